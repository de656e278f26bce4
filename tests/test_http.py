"""wsproto6455.http: the bounded HTTP/1.1 head reader, RFC 7230 grammar, bodies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsproto6455 import http
from wsproto6455.http import BodyReader, HeadReader, HTTPError

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
#: Anything a field value may carry after unquoting (visible ASCII and SP).
param_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


def read_body(headers: list[tuple[bytes, bytes]], pieces: list[bytes], eof: bool = False) -> tuple[bytes, bool]:
    reader = BodyReader(headers)
    out = b""
    for piece in pieces:
        out += b"".join(reader.feed(piece))
    if eof:
        reader.feed_eof()
    return out, reader.finished


class TestRFC7230Section3HeadReader:
    """RFC 7230 §3: a head is a start line and fields ended by an empty line."""

    def test_complete_head_returns_head_and_rest(self) -> None:
        reader = HeadReader(1024)
        assert reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nFRAME") == (
            b"GET / HTTP/1.1\r\nHost: a", b"FRAME")

    def test_incomplete_head_returns_none(self) -> None:
        assert HeadReader(1024).feed(b"GET / HTTP/1.1\r\nHost: a\r\n") is None

    def test_terminator_split_across_feeds(self) -> None:
        reader = HeadReader(1024)
        assert reader.feed(b"GET / HTTP/1.1\r\nHost: a\r") is None
        assert reader.feed(b"\n\r") is None
        assert reader.feed(b"\nxy") == (b"GET / HTTP/1.1\r\nHost: a", b"xy")

    def test_bare_lf_does_not_end_the_head(self) -> None:
        assert HeadReader(1024).feed(b"GET / HTTP/1.1\nHost: a\n\n") is None


class TestHeadReaderLimit:
    """The head is refused with 431 as soon as it passes the bound."""

    def test_head_of_exactly_the_limit_is_accepted(self) -> None:
        data = b"GET / HTTP/1.1\r\nX: " + b"a" * 10 + b"\r\n\r\n"
        assert HeadReader(len(data)).feed(data) is not None

    def test_head_one_byte_over_the_limit_is_refused(self) -> None:
        data = b"GET / HTTP/1.1\r\nX: " + b"a" * 10 + b"\r\n\r\n"
        with pytest.raises(HTTPError) as info:
            HeadReader(len(data) - 1).feed(data)
        assert info.value.status == 431

    def test_refused_while_arriving_byte_by_byte(self) -> None:
        reader = HeadReader(100)
        for _ in range(100):
            assert reader.feed(b"a") is None
        with pytest.raises(HTTPError) as info:
            reader.feed(b"a")
        assert info.value.status == 431

    def test_bytes_after_the_head_do_not_count(self) -> None:
        data = b"GET / HTTP/1.1\r\n\r\n"
        assert HeadReader(len(data)).feed(data + b"x" * 1000) == (data[:-4], b"x" * 1000)

    def test_no_limit(self) -> None:
        data = b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n"
        assert HeadReader(None).feed(data) is not None


class TestRFC7230Section3_1StartLine:
    def test_request_line(self) -> None:
        assert http.parse_request_line(b"GET /chat?x=1 HTTP/1.1") == (b"GET", b"/chat?x=1", (1, 1))

    def test_status_line(self) -> None:
        assert http.parse_status_line(b"HTTP/1.1 101 Switching Protocols") == ((1, 1), 101)

    def test_status_line_with_empty_reason(self) -> None:
        assert http.parse_status_line(b"HTTP/1.1 418 ") == ((1, 1), 418)

    @pytest.mark.parametrize("line", [
        b"GET /chat",
        b"GET  /chat HTTP/1.1",
        b"GET /chat HTTP/1.1 ",
        b"GET /chat HTTP/1",
        b"GET /chat http/1.1",
        b" GET /chat HTTP/1.1",
        b"GE\x00T /chat HTTP/1.1",
    ])
    def test_malformed_request_lines(self, line: bytes) -> None:
        with pytest.raises(HTTPError):
            http.parse_request_line(line)

    @pytest.mark.parametrize("target", [b"/a\x00b", b"/a\x01b", b"/a\x7fb", b"/a\x1bb"])
    def test_control_characters_in_the_target_are_refused(self, target: bytes) -> None:
        # RFC 7230 §3.1.1 / §5.3 and RFC 3986: a request-target has no CTLs.
        with pytest.raises(HTTPError):
            http.parse_request_line(b"GET " + target + b" HTTP/1.1")

    @pytest.mark.parametrize("line", [
        b"HTTP/1.1 10 Switching",
        b"HTTP/1.1 1010 Switching",
        b"HTTP/1.1  101 Switching",
        b"HTTP/1.1 101 Switching\x00",
        b"ICY 200 OK",
    ])
    def test_malformed_status_lines(self, line: bytes) -> None:
        with pytest.raises(HTTPError):
            http.parse_status_line(line)


class TestRFC7230Section3_2FieldSyntax:
    def test_names_lower_cased_values_trimmed(self) -> None:
        start, headers = http.split_head(b"GET / HTTP/1.1\r\nHoSt: \t a b \t\r\nX-Empty:")
        assert start == b"GET / HTTP/1.1"
        assert headers == [(b"host", b"a b"), (b"x-empty", b"")]

    def test_repeated_fields_kept_in_order(self) -> None:
        _, headers = http.split_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\na: 3")
        assert http.header_values(headers, b"a") == [b"1", b"3"]

    def test_obs_text_allowed_in_values(self) -> None:
        _, headers = http.split_head(b"GET / HTTP/1.1\r\nX: caf\xe9")
        assert headers == [(b"x", b"caf\xe9")]

    @pytest.mark.parametrize("line", [
        b"Host : a",            # §3.2.4: no whitespace between name and colon
        b" folded",             # §3.2.4: obs-fold
        b"\tfolded: x",
        b"NoColon",
        b": no-name",
        b"X Y: a",
        b"X\x00: a",
        b"X: a\x00b",
        b"X: a\x01b",
        b"X: a\x7fb",
        b"X: a\rb",
        b"X: a\nb",
    ])
    def test_malformed_field_lines(self, line: bytes) -> None:
        with pytest.raises(HTTPError) as info:
            http.split_head(b"GET / HTTP/1.1\r\nHost: a\r\n" + line)
        assert info.value.status == 400


class TestRFC7230Section7Lists:
    def test_tokens_across_values(self) -> None:
        assert http.parse_token_list([b"keep-alive, Upgrade", b"x"]) == ["keep-alive", "Upgrade", "x"]

    def test_empty_elements_and_ows_are_ignored(self) -> None:
        # §7: "a recipient MUST accept empty list elements".
        assert http.parse_token_list([b" ,, a ,\t, b ,", b"", b","]) == ["a", "b"]

    @pytest.mark.parametrize("value", [b"a b", b"a;b", b'"a"', b"a/", b"a=b"])
    def test_non_tokens_are_refused(self, value: bytes) -> None:
        with pytest.raises(HTTPError):
            http.parse_token_list([value])

    @given(st.lists(tokens, max_size=6))
    def test_joined_tokens_parse_back(self, items: list[str]) -> None:
        assert http.parse_token_list([", ".join(items).encode()]) == items


class TestRFC6455Section9_1ExtensionGrammar:
    def test_names_and_params(self) -> None:
        value = b"permessage-deflate; client_max_window_bits, x-foo; a=1; b"
        assert http.parse_extension_list([value]) == [
            ("permessage-deflate", [("client_max_window_bits", None)]),
            ("x-foo", [("a", "1"), ("b", None)]),
        ]

    def test_quoted_string_values_are_unquoted(self) -> None:
        assert http.parse_extension_list([b'foo; a="10", bar; b="x\\yz"']) == [
            ("foo", [("a", "10")]),
            ("bar", [("b", "xyz")]),
        ]

    def test_quoted_value_must_be_a_token_once_unescaped(self) -> None:
        # The header is read leniently (the quoted comma is not split on) so
        # an unsupported extension cannot fail the handshake; an extension's
        # own parameters are checked strictly (RFC 6455 §9.1).
        assert http.parse_extension_list([b'bar; b="x,y\\"z"']) == [("bar", [("b", 'x,y"z')])]
        with pytest.raises(http.HTTPError):
            http.parse_extension_params('b="x,y"')
        assert http.parse_extension_params('a; b="10"') == [("a", None), ("b", "10")]

    def test_optional_whitespace_around_separators(self) -> None:
        assert http.parse_extension_list([b" foo ;\ta = 1 ; b ,bar "]) == [
            ("foo", [("a", "1"), ("b", None)]),
            ("bar", []),
        ]

    def test_repeated_headers_concatenate(self) -> None:
        assert http.parse_extension_list([b"a", b"b; x"]) == [("a", []), ("b", [("x", None)])]

    @pytest.mark.parametrize("value", [
        b"foo;", b"foo;;a", b"foo; =1", b"foo; a=", b'foo; a="open', b"foo bar",
        b"foo; a=1 2", b";a", b'"foo"', b"foo; a=\"x\"y",
    ])
    def test_malformed_extension_lists(self, value: bytes) -> None:
        with pytest.raises(HTTPError):
            http.parse_extension_list([value])

    @given(st.lists(st.tuples(tokens, st.one_of(st.none(), param_values)), max_size=5))
    def test_format_then_parse_round_trips(self, params: list[tuple[str, str | None]]) -> None:
        text = "ext" + "".join("; " + http.format_extension_params([p]) for p in params)
        assert http.parse_extension_list([text.encode()]) == [("ext", params)]

    @given(st.binary(max_size=40))
    def test_arbitrary_bytes_raise_only_http_error(self, value: bytes) -> None:
        try:
            http.parse_extension_list([value])
            http.parse_token_list([value])
        except HTTPError:
            pass


class TestWriteHead:
    def test_write_head(self) -> None:
        assert http.write_head(b"HTTP/1.1 400 Bad Request", [(b"A", b"1"), (b"b", b"")]) == (
            b"HTTP/1.1 400 Bad Request\r\nA: 1\r\nb: \r\n\r\n")

    @pytest.mark.parametrize("name, value", [
        (b"X\r\nEvil", b"1"), (b"X", b"1\r\nEvil: 2"), (b"X", b"1\nEvil: 2"), (b"X", b"1\r"),
        (b"X:Y", b"1"), (b"X Y", b"1"), (b"", b"1"), (b"X", b"a\x00"),
    ])
    def test_check_header_refuses_injection(self, name: bytes, value: bytes) -> None:
        with pytest.raises(ValueError):
            http.check_header(name, value)

    def test_check_header_accepts_a_normal_field(self) -> None:
        http.check_header(b"X-Custom", b"value with spaces\tand tab")


class TestRFC7230Section3_3_3MessageBodyLength:
    def test_content_length(self) -> None:
        assert read_body([(b"content-length", b"5")], [b"hel", b"lo", b"EXTRA"]) == (b"hello", True)

    def test_content_length_zero_is_finished_at_once(self) -> None:
        assert BodyReader([(b"content-length", b"0")]).finished

    def test_identical_repeated_content_length(self) -> None:
        assert read_body([(b"content-length", b"2"), (b"content-length", b"2")], [b"abc"]) == (b"ab", True)

    @pytest.mark.parametrize("lengths", [[b"-1"], [b"1x"], [b"2", b"3"], [b""], [b"+5"]])
    def test_invalid_content_length(self, lengths: list[bytes]) -> None:
        with pytest.raises(HTTPError):
            BodyReader([(b"content-length", value) for value in lengths])

    def test_read_until_eof(self) -> None:
        assert read_body([], [b"abc", b"", b"def"], eof=True) == (b"abcdef", True)

    def test_eof_inside_content_length_body(self) -> None:
        reader = BodyReader([(b"content-length", b"5")])
        list(reader.feed(b"abc"))
        with pytest.raises(HTTPError):
            reader.feed_eof()

    def test_chunked_overrides_content_length(self) -> None:
        headers = [(b"content-length", b"100"), (b"transfer-encoding", b"chunked")]
        assert read_body(headers, [b"3\r\nabc\r\n0\r\n\r\n"]) == (b"abc", True)

    def test_chunked_as_the_final_coding_of_a_list(self) -> None:
        # §3.3.3 rule 3: "If a Transfer-Encoding header field is present and
        # the chunked transfer coding is the final encoding, the message body
        # length is determined by reading and decoding the chunked data".
        headers = [(b"transfer-encoding", b"gzip, chunked")]
        assert read_body(headers, [b"3\r\nabc\r\n0\r\n\r\nNOT BODY"]) == (b"abc", True)

    def test_chunked_is_case_insensitive(self) -> None:
        assert read_body([(b"transfer-encoding", b"Chunked")], [b"1\r\nz\r\n0\r\n\r\n"]) == (b"z", True)


class TestRFC7230Section4_1ChunkedCoding:
    BODY = (b"5;name=value\r\nhello\r\n"
            b"6;a;b=\"q v\"\r\n world\r\n"
            b"A\r\n0123456789\r\n"
            b"0\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n")
    CHUNKED = [(b"transfer-encoding", b"chunked")]

    def test_whole(self) -> None:
        assert read_body(self.CHUNKED, [self.BODY]) == (b"hello world0123456789", True)

    def test_byte_by_byte(self) -> None:
        pieces = [self.BODY[i:i + 1] for i in range(len(self.BODY))]
        assert read_body(self.CHUNKED, pieces) == (b"hello world0123456789", True)

    def test_split_at_every_offset(self) -> None:
        for cut in range(len(self.BODY) + 1):
            pieces = [self.BODY[:cut], self.BODY[cut:]]
            assert read_body(self.CHUNKED, pieces) == (b"hello world0123456789", True), cut

    def test_not_finished_before_the_trailer_ends(self) -> None:
        assert read_body(self.CHUNKED, [self.BODY[:-2]]) == (b"hello world0123456789", False)

    @pytest.mark.parametrize("body", [
        b"x\r\n", b"5\r\nhelloXX\r\n", b"-1\r\n", b"\r\n", b"5 x\r\n",
        b"1" * 17 + b"\r\n",
    ])
    def test_malformed_chunks(self, body: bytes) -> None:
        with pytest.raises(HTTPError):
            read_body(self.CHUNKED, [body])

    def test_eof_inside_chunked_body(self) -> None:
        reader = BodyReader(self.CHUNKED)
        list(reader.feed(b"5\r\nhel"))
        with pytest.raises(HTTPError):
            reader.feed_eof()

    def test_an_endless_chunk_size_line_is_bounded(self) -> None:
        reader = BodyReader(self.CHUNKED)
        with pytest.raises(HTTPError):
            for _ in range(100):
                list(reader.feed(b"0" * 100))

    @given(st.lists(st.binary(min_size=1, max_size=20), max_size=5), st.data())
    @settings(max_examples=50)
    def test_chunk_encoder_round_trips(self, pieces: list[bytes], data: st.DataObject) -> None:
        encoded = b"".join(http.chunk(piece) for piece in pieces) + http.chunk(b"")
        cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=6)))
        split = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)])]
        assert read_body(self.CHUNKED, split) == (b"".join(pieces), True)
