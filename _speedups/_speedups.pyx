# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""Compiled kernels for wsproto6455:

* ``apply_mask``: masking (RFC 6455 §5.3); twin ``wsproto6455/_mask_py.py``.
  ``mask_kernels``, ``mask_kernel`` and ``use_mask_kernel`` list, name and
  switch its SIMD kernel (chosen from the CPU at import; for the tests).
* ``Utf8Validator``: incremental UTF-8 validation (RFC 3629, RFC 6455 §8.1);
  twin ``wsproto6455/_utf8_py.py``.
* ``scan_messages``: the reader's fast path over a run of simple frames, and
  ``Scanner``, which also takes a frame arriving over several reads, with
  ``drain`` to hand the events out; twins in ``wsproto6455/_scan_py.py``.
* ``ReadShortcut``: a connection's ``receive_data`` and ``events`` in one C
  call each while a frame is under way (compiled only: it saves calls).
* ``new_message``: how the kernels build message events (events.py's
  construction contract; exposed for its tests).
* ``server_frame``: the writer's fast path, a whole message as one unmasked
  frame; twin ``wsproto6455/_frame_py.py``.

Each pair must give identical results, and raise the same exception types,
for every input (the tests check it differentially). The signatures are
declared for type checkers in ``wsproto6455/_speedups.pyi``, which a test
compares with the compiled module.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

# --------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------

cdef extern from *:
    # Bulk masking with explicit SIMD, chosen once at import from what the
    # CPU reports (AVX-512F, AVX2, else SSE2, the x86-64 baseline), each
    # kernel compiled for its ISA with a target attribute, so the module
    # itself still runs on any x86-64. Elsewhere, or with a compiler
    # without these builtins, a portable 64-bit word loop. Each kernel
    # handles a multiple of 16 bytes (whole key cycles) and leaves the rest
    # to the word loop, so the key phase needs no care.
    # Why explicit: GCC's vectorisation of the word loop (target_clones
    # avx2/default, the previous kernel) trailed websockets' plain SSE2
    # loop on an AVX-512 Xeon (0.85x at 64 KiB); unrolled intrinsics do
    # not depend on the vectoriser's choices.
    """
    #include <stdint.h>
    #include <string.h>
    #if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 6))
    #  define WSP_X86_SIMD 1
    #  include <immintrin.h>
    #endif

    typedef Py_ssize_t (*wsp_mask_fn)(const unsigned char *, unsigned char *,
                                      Py_ssize_t, uint32_t);

    /* The portable loop (what is left after a SIMD kernel, or all of it):
       memcpy in and out of a word compiles to unaligned loads and stores and
       keeps the key in memory order, so endianness does not matter; the
       counted loop lets -O3 vectorise it where no kernel below applies. */
    static void
    wsp_mask_words(const unsigned char *src, unsigned char *dst,
                   Py_ssize_t words, uint64_t key64)
    {
        for (Py_ssize_t j = 0; j < words; j++) {
            uint64_t w;
            memcpy(&w, src + 8 * j, 8);
            w ^= key64;
            memcpy(dst + 8 * j, &w, 8);
        }
    }

    static Py_ssize_t
    wsp_mask_none(const unsigned char *src, unsigned char *dst, Py_ssize_t n,
                  uint32_t k32)
    {
        (void)src; (void)dst; (void)n; (void)k32;
        return 0;  /* all of it to the word loop */
    }

    #ifdef WSP_X86_SIMD
    static Py_ssize_t
    wsp_mask_sse2(const unsigned char *src, unsigned char *dst, Py_ssize_t n,
                  uint32_t k32)
    {
        const __m128i k = _mm_set1_epi32((int)k32);
        Py_ssize_t i = 0;
        for (; i + 64 <= n; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
            _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, k));
            _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, k));
            _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, k));
        }
        for (; i + 16 <= n; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
        }
        return i;
    }

    __attribute__((target("avx2"))) static Py_ssize_t
    wsp_mask_avx2(const unsigned char *src, unsigned char *dst, Py_ssize_t n,
                  uint32_t k32)
    {
        const __m256i k = _mm256_set1_epi32((int)k32);
        Py_ssize_t i = 0;
        for (; i + 128 <= n; i += 128) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
            __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
            __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
            __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
            _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
            _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, k));
            _mm256_storeu_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, k));
            _mm256_storeu_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, k));
        }
        for (; i + 32 <= n; i += 32) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
            _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
        }
        return i;
    }

    __attribute__((target("avx512f"))) static Py_ssize_t
    wsp_mask_avx512(const unsigned char *src, unsigned char *dst, Py_ssize_t n,
                    uint32_t k32)
    {
        const __m512i k = _mm512_set1_epi32((int)k32);
        Py_ssize_t i = 0;
        for (; i + 256 <= n; i += 256) {
            __m512i a = _mm512_loadu_si512((const void *)(src + i));
            __m512i b = _mm512_loadu_si512((const void *)(src + i + 64));
            __m512i c = _mm512_loadu_si512((const void *)(src + i + 128));
            __m512i d = _mm512_loadu_si512((const void *)(src + i + 192));
            _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(a, k));
            _mm512_storeu_si512((void *)(dst + i + 64), _mm512_xor_si512(b, k));
            _mm512_storeu_si512((void *)(dst + i + 128), _mm512_xor_si512(c, k));
            _mm512_storeu_si512((void *)(dst + i + 192), _mm512_xor_si512(d, k));
        }
        for (; i + 64 <= n; i += 64) {
            __m512i a = _mm512_loadu_si512((const void *)(src + i));
            _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(a, k));
        }
        return i;
    }
    #endif

    /* The kernels this CPU can run, best first, and the one in use. */
    static const char *wsp_kernel_names[4];
    static wsp_mask_fn wsp_kernel_fns[4];
    static int wsp_kernel_count = 0;
    static wsp_mask_fn wsp_mask_bulk = wsp_mask_none;
    static const char *wsp_mask_kernel = "word";

    static void
    wsp_mask_add(const char *name, wsp_mask_fn fn)
    {
        wsp_kernel_names[wsp_kernel_count] = name;
        wsp_kernel_fns[wsp_kernel_count] = fn;
        wsp_kernel_count++;
    }

    static void
    wsp_mask_init(void)
    {
    #ifdef WSP_X86_SIMD
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f"))
            wsp_mask_add("avx512", wsp_mask_avx512);
        if (__builtin_cpu_supports("avx2"))
            wsp_mask_add("avx2", wsp_mask_avx2);
        wsp_mask_add("sse2", wsp_mask_sse2);
    #endif
        wsp_mask_add("word", wsp_mask_none);
        wsp_mask_bulk = wsp_kernel_fns[0];
        wsp_mask_kernel = wsp_kernel_names[0];
    }

    /* Use the named kernel (one of wsp_kernel_names); 0 if unknown. */
    static int
    wsp_mask_select(const char *name)
    {
        for (int j = 0; j < wsp_kernel_count; j++) {
            if (strcmp(wsp_kernel_names[j], name) == 0) {
                wsp_mask_bulk = wsp_kernel_fns[j];
                wsp_mask_kernel = wsp_kernel_names[j];
                return 1;
            }
        }
        return 0;
    }
    """
    ctypedef Py_ssize_t (*wsp_mask_fn)(const unsigned char*, unsigned char*, Py_ssize_t,
                                       uint32_t) noexcept nogil
    wsp_mask_fn wsp_mask_bulk
    const char* wsp_mask_kernel
    const char* wsp_kernel_names[4]
    int wsp_kernel_count
    void wsp_mask_words(const unsigned char* src, unsigned char* dst,
                        Py_ssize_t words, uint64_t key64) noexcept nogil
    void wsp_mask_init() noexcept nogil
    int wsp_mask_select(const char* name) noexcept nogil


wsp_mask_init()

# Below this size the SIMD call costs more than the word loop saves.
cdef enum:
    _SIMD_MIN = 64


cdef inline void _mask_copy(const unsigned char* src, unsigned char* dst,
                            Py_ssize_t n, const unsigned char* key) noexcept nogil:
    """dst[i] = src[i] ^ key[i % 4] for i < n."""
    cdef uint32_t k32 = 0
    cdef Py_ssize_t j = 0, words
    memcpy(&k32, key, 4)
    if n >= _SIMD_MIN:
        j = wsp_mask_bulk(src, dst, n, k32)
    # The rest (j is a multiple of 16, so the key phase is 0): words, then
    # bytes. A word holds two whole key cycles, so the bytes restart at key[0].
    words = (n - j) >> 3
    wsp_mask_words(src + j, dst + j, words, (<uint64_t>k32 << 32) | k32)
    for j in range(j + words * 8, n):
        dst[j] = src[j] ^ key[j & 3]


def mask_kernels():
    """The bulk masking kernels this CPU runs, best first (for the tests)."""
    return [wsp_kernel_names[j].decode() for j in range(wsp_kernel_count)]


def mask_kernel():
    """The bulk masking kernel in use."""
    return wsp_mask_kernel.decode()


def use_mask_kernel(str name):
    """Use another of ``mask_kernels()`` (the tests run each); returns the
    previous one's name."""
    previous = mask_kernel()
    if not wsp_mask_select(name.encode()):
        raise ValueError(f"no masking kernel {name!r} on this CPU: {mask_kernels()}")
    return previous


cdef int _get_simple_buffer(object data, Py_buffer* view) except -1:
    """Acquire a contiguous view of ``data`` (release it with PyBuffer_Release).

    A non-contiguous memoryview is copied first, so its bytes are seen in
    logical order, as bytes(data) would list them (the pure backend agrees).
    The view keeps a reference to whatever object it was taken from."""
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    except BufferError:
        PyObject_GetBuffer(memoryview(data).tobytes(), view, PyBUF_SIMPLE)
    return 0


cdef bytes _mask_buffer(object data, const unsigned char* key):
    """Slow path: any object with the buffer protocol."""
    cdef Py_buffer view
    cdef bytes out
    _get_simple_buffer(data, &view)
    try:
        out = PyBytes_FromStringAndSize(NULL, view.len)
        _mask_copy(<const unsigned char*>view.buf,
                   <unsigned char*>PyBytes_AS_STRING(out), view.len, key)
    finally:
        PyBuffer_Release(&view)
    return out


def apply_mask(data, key):
    """Return ``data`` XOR the 4-byte masking ``key`` repeated, as bytes.

    RFC 6455 §5.3: "Octet i of the transformed data is the XOR of octet i
    of the original data with octet at index i modulo 4 of the masking key."
    """
    cdef Py_buffer kview
    cdef unsigned char k[4]
    cdef Py_ssize_t n
    cdef bytes out
    if type(key) is bytes and PyBytes_GET_SIZE(key) == 4:
        memcpy(k, PyBytes_AS_STRING(key), 4)
    else:
        _get_simple_buffer(key, &kview)
        try:
            if kview.len != 4:
                raise ValueError("masking key must be 4 bytes")
            memcpy(k, kview.buf, 4)
        finally:
            PyBuffer_Release(&kview)
    if type(data) is not bytes:
        return _mask_buffer(data, k)
    # Fast path for bytes: no buffer protocol, result written in place.
    n = PyBytes_GET_SIZE(data)
    out = PyBytes_FromStringAndSize(NULL, n)
    _mask_copy(<const unsigned char*>PyBytes_AS_STRING(data),
               <unsigned char*>PyBytes_AS_STRING(out), n, k)
    return out


# --------------------------------------------------------------------------
# UTF-8 validation
# --------------------------------------------------------------------------
#
# A shift-based DFA: each state is a bit offset (a multiple of 6) into a
# 64-bit row, and _ROWS[byte] packs the next state of every state for that
# byte, so one step is `state = _ROWS[byte] >> (state & 63)`: a single shift
# on the loop-carried chain. RFC 3629 §4 gives the well-formed sequences:
#
#   UTF8-1 = %x00-7F
#   UTF8-2 = %xC2-DF UTF8-tail
#   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
#            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
#   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
#            %xF4 %x80-8F 2( UTF8-tail )
#
# Anything else is rejected at the first byte that cannot continue a
# well-formed sequence (fail-fast), which excludes overlongs (C0, C1, E0 80-9F,
# F0 80-8F), surrogates (ED A0-BF) and code points above U+10FFFF (F4 90-BF,
# F5-FF).

# State indices; the stored state is index * _BITS. ERROR must be 0 so that
# every row maps it to itself (the low 6 bits of each row are 0).
cdef enum:
    _BITS = 6
    _ERROR = 0
    _ACCEPT = 1
    _TAIL1 = 2      # one continuation byte still needed
    _TAIL2 = 3
    _TAIL3 = 4
    _E0 = 5         # after E0: A0-BF (no overlongs)
    _ED = 6         # after ED: 80-9F (no surrogates)
    _F0 = 7         # after F0: 90-BF (no overlongs)
    _F4 = 8         # after F4: 80-8F (nothing above U+10FFFF)
    _NSTATES = 9
    _S_ERROR = _ERROR * _BITS
    _S_ACCEPT = _ACCEPT * _BITS

cdef uint64_t _ROWS[256]


cdef int _next_state(int state, int b):
    """The transition function, spelled out from the RFC 3629 grammar."""
    if state == _ACCEPT:
        if b < 0x80:
            return _ACCEPT
        if 0xC2 <= b <= 0xDF:
            return _TAIL1
        if b == 0xE0:
            return _E0
        if b == 0xED:
            return _ED
        if 0xE1 <= b <= 0xEF:
            return _TAIL2
        if b == 0xF0:
            return _F0
        if 0xF1 <= b <= 0xF3:
            return _TAIL3
        if b == 0xF4:
            return _F4
        return _ERROR
    if not 0x80 <= b <= 0xBF:
        return _ERROR
    if state == _TAIL1:
        return _ACCEPT
    if state == _TAIL2:
        return _TAIL1
    if state == _TAIL3:
        return _TAIL2
    if state == _E0:
        return _TAIL1 if b >= 0xA0 else _ERROR
    if state == _ED:
        return _TAIL1 if b <= 0x9F else _ERROR
    if state == _F0:
        return _TAIL2 if b >= 0x90 else _ERROR
    if state == _F4:
        return _TAIL2 if b <= 0x8F else _ERROR
    return _ERROR


cdef void _build_rows():
    cdef int b, s
    cdef uint64_t row
    for b in range(256):
        row = 0
        for s in range(_NSTATES):
            row |= (<uint64_t>(_next_state(s, b) * _BITS)) << (s * _BITS)
        _ROWS[b] = row


_build_rows()

cdef extern from *:
    """
    #define WSP_HIGH_BITS 0x8080808080808080ULL
    """
    const uint64_t WSP_HIGH_BITS

# Bytes run through the DFA before the ASCII fast path is tried again:
# short enough to catch ASCII runs in mixed text, long enough that the
# check costs little in text without them.
cdef enum:
    _DFA_BLOCK = 16


cdef inline uint64_t _run(uint64_t state, const unsigned char* p,
                          Py_ssize_t n) noexcept nogil:
    """Advance the DFA over p[0:n]; return the new state (already masked)."""
    cdef Py_ssize_t i = 0, stop
    cdef uint64_t w0 = 0, w1 = 0, w2 = 0, w3 = 0
    while i < n:
        if state == _S_ACCEPT:
            # ASCII fast path: between code points, skip whole words with no
            # high bit set (32 bytes per step, then 8).
            while i + 32 <= n:
                memcpy(&w0, p + i, 8)
                memcpy(&w1, p + i + 8, 8)
                memcpy(&w2, p + i + 16, 8)
                memcpy(&w3, p + i + 24, 8)
                if (w0 | w1 | w2 | w3) & WSP_HIGH_BITS:
                    break
                i += 32
            while i + 8 <= n:
                memcpy(&w0, p + i, 8)
                if w0 & WSP_HIGH_BITS:
                    break
                i += 8
        stop = i + _DFA_BLOCK
        if stop > n:
            stop = n
        while i < stop:
            state = _ROWS[p[i]] >> (state & 63)
            i += 1
        state &= 63
        if state == _S_ERROR:
            # ERROR is absorbing: the rest of the input cannot change it.
            break
    return state


cdef class Utf8Validator:
    """Incremental, fail-fast UTF-8 validator (RFC 3629), for RFC 6455 §8.1.

    ``validate`` returns False as soon as the bytes seen so far cannot be the
    start of valid UTF-8; with ``final=True`` an unfinished sequence is
    invalid too. After a False, the validator stays failed until ``reset``.
    """

    cdef uint64_t _state

    def __cinit__(self):
        self._state = _S_ACCEPT

    def validate(self, data, bint final=False):
        """Feed ``data``; return False once the stream is known to be invalid."""
        cdef Py_buffer view
        cdef uint64_t state = self._state
        if type(data) is bytes:
            state = _run(state, <const unsigned char*>PyBytes_AS_STRING(data),
                         PyBytes_GET_SIZE(data))
        else:
            _get_simple_buffer(data, &view)
            try:
                state = _run(state, <const unsigned char*>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        if final and state != _S_ACCEPT:
            # RFC 6455 §8.1: the whole message must be valid UTF-8, so a
            # sequence cut off by the end of the message is an error.
            state = _S_ERROR
        self._state = state
        return state != _S_ERROR

    def reset(self):
        """Forget all state: ready for a new message."""
        self._state = _S_ACCEPT


# --------------------------------------------------------------------------
# Message scanner
# --------------------------------------------------------------------------
#
# The twin of wsproto6455/_scan_py.py (see its docstring for the contract):
# the reader's fast path over a run of simple frames. It never raises for
# bad input; it stops at the first frame it does not take.

from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_DecodeUTF8Stateful
from cpython.object cimport PyObject, PyTypeObject
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from collections import deque

from wsproto6455.errors import ProtocolFault
from wsproto6455.events import BytesMessage, TextMessage
from wsproto6455.frames import CloseReason

cdef extern from "Python.h":
    int PyObject_GenericSetAttr(object obj, object name, object value) except -1
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object text)


cdef inline bint _is_ascii(const unsigned char* data, Py_ssize_t n) noexcept nogil:
    """No byte of ``data[:n]`` has its top bit set (a loop GCC vectorises)."""
    cdef uint64_t acc = 0, word
    cdef Py_ssize_t i, words = n >> 3
    for i in range(words):
        memcpy(&word, data + i * 8, 8)
        acc |= word
    for i in range(words * 8, n):
        acc |= data[i]
    return (acc & WSP_HIGH_BITS) == 0  # the mask _run skips ASCII words with

cdef tuple _NO_ARGS = ()
cdef type _TextMessage = TextMessage
cdef type _BytesMessage = BytesMessage
cdef object _INVALID_DATA = CloseReason.INVALID_FRAME_PAYLOAD_DATA
cdef str _INVALID_TEXT = "text message is not valid UTF-8"

cdef enum:
    _SIMPLE_TEXT = 0x81
    _SIMPLE_BINARY = 0x82
    _RSV1 = 0x40
    # A scan stops once the messages it inflated reach this many bytes (see
    # _scan_py.INFLATE_BUDGET).
    _INFLATE_BUDGET = 65536
    # Text payloads up to this size are unmasked on the stack before decoding.
    _STACK_PAYLOAD = 2048


cdef object _message(type cls, object data, bint frame_finished, bint message_finished):
    """``cls(data, frame_finished, message_finished)`` for the message events
    (events.py's construction contract): ``tp_new``, then each field set by
    ``PyObject_GenericSetAttr``, the C function behind ``object.__setattr__``,
    as their ``__init__`` does. No instance layout is assumed."""
    cdef object event = (<PyTypeObject*>cls).tp_new(cls, <PyObject*>_NO_ARGS, NULL)
    PyObject_GenericSetAttr(event, "data", data)
    PyObject_GenericSetAttr(event, "frame_finished", frame_finished)
    PyObject_GenericSetAttr(event, "message_finished", message_finished)
    return event


def new_message(type cls, data, bint frame_finished=True, bint message_finished=True):
    """The kernels' way to build ``TextMessage``/``BytesMessage`` (exposed
    for the tests of the construction contract); other classes are refused,
    since their ``__init__`` is not known to be the same."""
    if cls is not _TextMessage and cls is not _BytesMessage:
        raise TypeError(f"not a message event class: {cls!r}")
    return _message(cls, data, frame_finished, message_finished)


cdef bytes _unmasked(const unsigned char* src, Py_ssize_t n, const unsigned char* key):
    """A payload as bytes, unmasked if ``key``."""
    cdef bytes payload = PyBytes_FromStringAndSize(NULL, n)
    if key != NULL:
        _mask_copy(src, <unsigned char*>PyBytes_AS_STRING(payload), n, key)
    else:
        memcpy(PyBytes_AS_STRING(payload), src, n)
    return payload


cdef object _decode_text(const unsigned char* src, Py_ssize_t n, const unsigned char* key):
    """The text of a (masked if ``key``) payload; None if it is not UTF-8."""
    cdef unsigned char stack[_STACK_PAYLOAD]
    cdef bytes unmasked
    cdef const unsigned char* text = src
    if key != NULL and n:
        if n <= _STACK_PAYLOAD:
            _mask_copy(src, stack, n, key)
            text = stack
        else:
            unmasked = PyBytes_FromStringAndSize(NULL, n)
            _mask_copy(src, <unsigned char*>PyBytes_AS_STRING(unmasked), n, key)
            text = <const unsigned char*>PyBytes_AS_STRING(unmasked)
    # CPython's strict decoder accepts exactly RFC 3629's UTF-8, as our DFA:
    # one pass instead of validating first.
    try:
        return PyUnicode_DecodeUTF8(<const char*>text, n, NULL)
    except UnicodeDecodeError:
        return None


cdef Py_ssize_t _scan(const unsigned char* p, Py_ssize_t size, Py_ssize_t pos, int mask_bit,
                      Py_ssize_t limit, list out, object inflate) except -1:
    """The loop of scan_messages (see there)."""
    cdef Py_ssize_t start, end
    cdef uint64_t length
    cdef int first, second, i
    cdef bint compressed
    cdef const unsigned char* key
    cdef bytes payload
    cdef object text
    cdef Py_ssize_t inflated = 0
    while size - pos >= 2:
        first = p[pos]
        compressed = first & _RSV1 and inflate is not None
        if compressed:
            first ^= _RSV1
        if first != _SIMPLE_TEXT and first != _SIMPLE_BINARY:
            break
        second = p[pos + 1]
        if (second & 0x80) != mask_bit:
            break
        length = second & 0x7F
        start = pos + 2
        if length == 126:
            if size - pos < 4:
                break
            length = (<uint64_t>p[pos + 2] << 8) | p[pos + 3]
            start = pos + 4
        elif length == 127:
            if size - pos < 10 or p[pos + 2] & 0x80:
                break
            length = 0
            for i in range(2, 10):
                length = (length << 8) | p[pos + i]
            start = pos + 10
        if limit < 0 or length > <uint64_t>limit:
            break
        key = NULL
        if mask_bit:
            key = p + start
            start += 4
        # length <= limit, so it fits a Py_ssize_t; start may be past size.
        if size - start < <Py_ssize_t>length:
            break
        end = start + <Py_ssize_t>length
        if compressed:
            payload = inflate(_unmasked(p + start, end - start, key))
            if first == _SIMPLE_TEXT:
                try:
                    text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(payload),
                                                PyBytes_GET_SIZE(payload), NULL)
                except UnicodeDecodeError:
                    raise ProtocolFault(_INVALID_DATA, _INVALID_TEXT) from None
                out.append(_message(_TextMessage, text, True, True))
            else:
                out.append(_message(_BytesMessage, payload, True, True))
            inflated += PyBytes_GET_SIZE(payload)
            if inflated >= _INFLATE_BUDGET:
                return end  # the caller takes these first (see the pure twin)
        elif first == _SIMPLE_TEXT:
            text = _decode_text(p + start, end - start, key)
            if text is None:
                break
            out.append(_message(_TextMessage, text, True, True))
        else:
            out.append(_message(_BytesMessage, _unmasked(p + start, end - start, key), True, True))
        pos = end
    return pos


def scan_messages(bytes buf not None, Py_ssize_t pos, int mask_bit, Py_ssize_t limit, list out,
                  object inflate=None):
    """Append the events of the simple frames at ``buf[pos:]`` to ``out``;
    return the offset after the last frame scanned (``pos`` if none).
    With ``inflate``, frames with RSV1 are taken too and their (unmasked)
    payload handed to ``inflate(payload)``, which returns the message's;
    the scan stops once those reach 64 KiB (see _scan_py.scan_messages)."""
    if pos < 0:
        raise ValueError("negative offset")
    return _scan(<const unsigned char*>PyBytes_AS_STRING(buf), PyBytes_GET_SIZE(buf), pos,
                 mask_bit, limit, out, inflate)


cdef class Scanner:
    """The twin of ``_scan_py.Scanner`` (see there): ``scan_messages`` plus
    a last simple frame that arrives over several reads."""

    cdef readonly int mask_bit
    cdef readonly Py_ssize_t limit
    cdef readonly bint whole
    cdef readonly object inflate
    # The frame under way: payload bytes still to come (0: none), taken so
    # far, its masking key (if masked) and its kind.
    cdef Py_ssize_t _left
    cdef Py_ssize_t _done
    cdef unsigned char _key[4]
    cdef bint _masked
    cdef bint _text
    # Pieces: the unfinished code point at the end of the last piece.
    cdef unsigned char _pending[4]
    cdef Py_ssize_t _npending
    # Whole: the payload so far, unmasked, and the DFA state over it.
    cdef unsigned char* _collected
    cdef Py_ssize_t _ncollected
    cdef Py_ssize_t _capacity
    cdef uint64_t _state

    def __init__(self, int mask_bit, Py_ssize_t limit, bint whole, object inflate=None):
        self.mask_bit = mask_bit
        self.limit = limit
        self.whole = whole
        self.inflate = inflate
        self._end()

    def __dealloc__(self):
        PyMem_Free(self._collected)

    @property
    def busy(self):
        """A frame is under way: its next bytes are the scanner's."""
        return self._left > 0

    @property
    def held(self):
        """Payload bytes collected of the frame under way (``whole``)."""
        return self._ncollected

    def reset(self):
        """Forget the frame under way (the reader interprets nothing more)."""
        self._end()
        PyMem_Free(self._collected)
        self._collected = NULL
        self._capacity = 0

    cdef void _end(self) noexcept:
        """Forget the frame under way (finished, or failed)."""
        self._left = 0
        self._npending = 0
        self._ncollected = 0
        self._state = _S_ACCEPT
        if self._capacity > _STACK_PAYLOAD * 32:
            # Keep a small buffer for the next message; give a large one back.
            PyMem_Free(self._collected)
            self._collected = NULL
            self._capacity = 0

    def scan(self, bytes buf not None, Py_ssize_t pos, list out):
        """Append the events of ``buf[pos:]`` to ``out``; return the offset
        after what was taken."""
        if pos < 0:
            raise ValueError("negative offset")
        return self._scan_from(buf, pos, out)

    cdef Py_ssize_t _scan_from(self, bytes buf, Py_ssize_t pos, list out) except -1:
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(buf)
        cdef Py_ssize_t start
        cdef uint64_t length
        cdef int first, second, i
        if self._left:
            pos = self._continue(p, size, pos, out)
            if self._left:
                return pos
        pos = _scan(p, size, pos, self.mask_bit, self.limit, out, self.inflate)
        # Stopped: at a simple, uncompressed frame whose payload is not all here?
        if size - pos < 2:
            return pos
        first = p[pos]
        second = p[pos + 1]
        if (first != _SIMPLE_TEXT and first != _SIMPLE_BINARY) or (second & 0x80) != self.mask_bit:
            return pos
        length = second & 0x7F
        start = pos + 2
        if length == 126:
            start = pos + 4
            if size < start:
                return pos
            length = (<uint64_t>p[pos + 2] << 8) | p[pos + 3]
        elif length == 127:
            start = pos + 10
            if size < start or p[pos + 2] & 0x80:
                return pos
            length = 0
            for i in range(2, 10):
                length = (length << 8) | p[pos + i]
        self._masked = self.mask_bit != 0
        if self._masked:
            start += 4
            if size < start:
                return pos
            memcpy(self._key, p + start - 4, 4)
        if self.limit < 0 or length > <uint64_t>self.limit or size - start >= <Py_ssize_t>length:
            return pos  # over the limit, or whole (then it stopped the scan for its text)
        self._end()
        self._left = <Py_ssize_t>length
        self._done = 0
        self._text = first == _SIMPLE_TEXT
        return self._continue(p, size, start, out)

    cdef Py_ssize_t _continue(self, const unsigned char* p, Py_ssize_t size, Py_ssize_t pos,
                              list out) except -1:
        cdef Py_ssize_t take = size - pos
        cdef Py_ssize_t n, cut
        cdef unsigned char key[4]
        cdef unsigned char stack[_STACK_PAYLOAD + 4]
        cdef unsigned char* dst
        cdef bytes scratch
        cdef bint finished
        cdef uint64_t state
        cdef object data
        if take > self._left:
            take = self._left
        if take <= 0:
            return pos
        for n in range(4):
            key[n] = self._key[(self._done + n) & 3]
        self._left -= take
        self._done += take
        finished = self._left == 0
        if self.whole:
            self._reserve(self._ncollected + take)
            dst = self._collected + self._ncollected
            self._copy(p + pos, dst, take, key)
            self._ncollected += take
            if self._text:
                state = _run(self._state, dst, take)
                if finished and state != _S_ACCEPT:
                    state = _S_ERROR
                self._state = state
                if state == _S_ERROR:
                    self._end()
                    raise ProtocolFault(_INVALID_DATA, _INVALID_TEXT)
            if finished:
                if self._text:
                    data = PyUnicode_DecodeUTF8(<const char*>self._collected, self._ncollected, NULL)
                    out.append(_message(_TextMessage, data, True, True))
                else:
                    data = PyBytes_FromStringAndSize(<const char*>self._collected, self._ncollected)
                    out.append(_message(_BytesMessage, data, True, True))
                self._end()
        elif self._text and self._npending == 0 and _ascii_piece(self, p + pos, take, key, finished, out):
            pass  # unmasked straight into its str
        elif self._text:
            # The pending code point, then the piece, unmasked in one place
            # (the stack, or the collecting buffer, unused by this delivery).
            n = self._npending + take
            if n <= _STACK_PAYLOAD + 4:
                dst = stack
            else:
                self._reserve_scratch(n)
                dst = self._collected
            memcpy(dst, self._pending, self._npending)
            self._copy(p + pos, dst + self._npending, take, key)
            # _utf8_py.decode_piece's rule: the strict decoder, holding back
            # an unfinished code point unless the message ends here, and
            # failing one that can only become a surrogate (ED A0-BF).
            cut = n
            try:
                data = PyUnicode_DecodeUTF8Stateful(<const char*>dst, n, NULL,
                                                    NULL if finished else &cut)
            except UnicodeDecodeError:
                data = None
            if data is None or (n - cut >= 2 and dst[cut] == 0xED and dst[cut + 1] >= 0xA0):
                self._end()
                raise ProtocolFault(_INVALID_DATA, _INVALID_TEXT)
            self._npending = n - cut
            memcpy(self._pending, dst + cut, self._npending)
            out.append(_message(_TextMessage, data, finished, finished))
        else:
            data = PyBytes_FromStringAndSize(NULL, take)
            self._copy(p + pos, <unsigned char*>PyBytes_AS_STRING(data), take, key)
            out.append(_message(_BytesMessage, data, finished, finished))
        if finished:
            self._end()
        return pos + take

    cdef inline void _copy(self, const unsigned char* src, unsigned char* dst, Py_ssize_t n,
                           const unsigned char* key) noexcept:
        if self._masked:
            _mask_copy(src, dst, n, key)
        else:
            memcpy(dst, src, n)

    cdef int _reserve_scratch(self, Py_ssize_t need) except -1:
        """Room for ``need`` bytes in the buffer, used as scratch space."""
        cdef void* grown
        if need > self._capacity:
            grown = PyMem_Realloc(self._collected, need)
            if grown == NULL:
                raise MemoryError()
            self._collected = <unsigned char*>grown
            self._capacity = need
        return 0

    cdef int _reserve(self, Py_ssize_t need) except -1:
        """Room for ``need`` collected bytes: doubling, never past the frame."""
        cdef Py_ssize_t capacity = self._capacity
        cdef void* grown
        if need <= capacity:
            return 0
        capacity = capacity * 2 if capacity else _STACK_PAYLOAD
        if capacity > need + self._left:
            capacity = need + self._left
        if capacity < need:
            capacity = need
        grown = PyMem_Realloc(self._collected, capacity)
        if grown == NULL:
            raise MemoryError()
        self._collected = <unsigned char*>grown
        self._capacity = capacity
        return 0


cdef bint _ascii_piece(Scanner scanner, const unsigned char* src, Py_ssize_t n,
                       const unsigned char* key, bint finished, list out) except -1:
    """A text piece that is all ASCII (most text is), unmasked straight into
    the ``str`` it becomes: one copy instead of unmask-then-decode. False,
    with nothing appended, when a byte is not ASCII (then the general
    decoding, which validates, takes the piece again from the source)."""
    cdef object text = PyUnicode_New(n, 127)
    cdef unsigned char* dst = <unsigned char*>PyUnicode_DATA(text)
    scanner._copy(src, dst, n, key)
    if not _is_ascii(dst, n):
        return False  # (text, never shown, holds other bytes: dropped)
    out.append(_message(_TextMessage, text, finished, finished))
    return True


cdef class _Drain:
    """Takes the events of a deque one by one, as they are asked for."""

    cdef object _queue
    cdef object _popleft

    def __cinit__(self, queue):
        self._queue = queue
        self._popleft = queue.popleft

    def __iter__(self):
        return self

    def __next__(self):
        if not self._queue:
            raise StopIteration
        return self._popleft()


def drain(queue):
    """Take the events of ``queue`` one by one, as they are asked for (what
    is not asked for stays queued)."""
    return _Drain(queue)


cdef class ReadShortcut:
    """The base class of :class:`Connection` under the compiled backend: its
    ``receive_data`` and ``events`` in one C call each for what the scanner
    takes alone (a run of whole data frames, or the frame under way of a
    large message arriving read by read), where the Python call chain per
    read cost as much as the work; anything else goes to the connection's
    general methods (``_general_receive_data`` and ``_general_events``).

    Compiled only: it saves calls, not work. It does what the general route
    does, in the same order: ``receive_data`` queues the bytes, ``events``
    joins what is queued, scans it, and hands out the queue (``Reader.batch``
    is the general route's version of this). It answers only when that
    route would do nothing else: the stream has not ended, the caller took
    every event before, the reader is open with no fault waiting, no message
    is being assembled outside the scanner, and no earlier byte waits
    unscanned. Bytes the scanner does not take, and a fault found in them,
    are left in the reader exactly as ``Reader.batch`` leaves them, and the
    general ``events`` goes on.

    A base class, not an object the connection holds: ``conn.receive_data``
    is then an ordinary bound method, which keeps ``conn`` alive wherever it
    is kept, and the connection holds nothing that holds it (no reference
    cycle: a closed connection is freed at once, without the cyclic
    collector).
    """

    cdef Scanner _scanner
    cdef object _reader
    cdef object _ready
    cdef object _ready_extend
    # A _Drain keeps no state but its queue: one serves every call.
    cdef _Drain _drain
    cdef list _incoming
    cdef list _scanned
    # The connection state in which received bytes are read (OPEN).
    cdef object _open_state
    # The general methods, unbound (called with self).
    cdef object _general_receive
    cdef object _general_events
    #: True while the shortcut may answer: set by _use_shortcut, cleared
    #: when the stream ends (the 1006 close is the general path's).
    cdef public bint _shortcut_open

    def __cinit__(self, *args, **kwargs):
        # Before any __init__: every call goes the general route until
        # _use_shortcut (and always for a subclass with its own methods,
        # whose super() calls land here).
        cls = type(self)
        self._general_receive = cls._general_receive_data
        self._general_events = cls._general_events

    def _use_shortcut(self, Scanner scanner not None, reader, open_state):
        """Answer from C from now on, for ``reader`` and its ``scanner``;
        ``open_state``: the connection state in which bytes are read."""
        self._scanner = scanner
        self._reader = reader
        self._ready = reader._ready
        self._ready_extend = self._ready.extend
        self._drain = _Drain(self._ready)
        self._incoming = reader._incoming
        self._scanned = reader._scanned
        self._open_state = open_state
        self._shortcut_open = True

    def receive_data(self, data):
        """Feed bytes from the peer; None when the stream has ended."""
        # While a frame is under way the reader is open (a close or a fault
        # ends the frame); between frames the state says it.
        if (type(data) is bytes and self._shortcut_open
                and (self._scanner._left or self._state is self._open_state)):
            if PyBytes_GET_SIZE(data):
                self._incoming.append(data)
            return
        return self._general_receive(self, data)

    def events(self):
        """The events for the bytes received so far."""
        cdef list incoming = self._incoming
        cdef Py_ssize_t pos
        cdef bytes data
        if not self._shortcut_open or self._ready:
            # (Events left untaken: the general route is lazy then.)
            return self._general_events(self)
        reader = self._reader
        if not self._scanner._left:
            # Between frames: only if nothing but the scanner has work
            # (Reader.batch's conditions), and every earlier byte was read.
            if (reader._fault is not None or reader._finished or reader._frame_left
                    or reader._opcode or reader._pos < PyBytes_GET_SIZE(reader._buffer)):
                return self._general_events(self)
        if not PyList_GET_SIZE(incoming):
            return self._drain
        data = <bytes>incoming[0] if PyList_GET_SIZE(incoming) == 1 else b"".join(incoming)
        del incoming[:]
        try:
            pos = self._scanner._scan_from(data, 0, self._scanned)
        except BaseException as exc:
            # Raised by the general events() after the events scanned before it.
            reader._buffer = data
            reader._pos = 0
            reader._fault = exc
            self._take_scanned()
            return self._general_events(self)
        self._take_scanned()
        if pos < PyBytes_GET_SIZE(data):
            # What the scanner does not take is the general route's.
            reader._buffer = data
            reader._pos = pos
            if not self._scanner._left:
                return self._general_events(self)
        return self._drain

    cdef inline void _take_scanned(self) except *:
        cdef list scanned = self._scanned
        if PyList_GET_SIZE(scanned):
            self._ready_extend(scanned)
            del scanned[:]


# --------------------------------------------------------------------------
# Server frames
# --------------------------------------------------------------------------
#
# The twin of wsproto6455/_frame_py.py: a whole message as one unmasked
# frame (what a server sends most), built in a single allocation.

from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_AsUTF8String

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)


def server_frame(data):
    """One final, unmasked frame for ``data``: text for a ``str`` (UTF-8),
    binary for any bytes-like object (RFC 6455 §5.2), else TypeError."""
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef const char* ascii
    cdef bytes encoded
    if type(data) is str:
        if PyUnicode_IS_ASCII(data):
            ascii = PyUnicode_AsUTF8AndSize(data, &n)  # the string's own bytes
            return _frame(0x1, ascii, n)
        # Encoded apart: PyUnicode_AsUTF8AndSize would cache a UTF-8 copy in
        # the caller's string for as long as it lives.
        encoded = PyUnicode_AsUTF8String(data)  # raises for lone surrogates
        return _frame(0x1, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))
    if type(data) is bytes:
        return _frame(0x2, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    if isinstance(data, str):
        # A subclass (markupsafe.Markup, a str Enum member) is text too, sent
        # as its string value whatever it overrides (frames.message_payload).
        encoded = PyUnicode_AsUTF8String(data)
        return _frame(0x1, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))
    try:
        _get_simple_buffer(data, &view)
    except TypeError:
        raise TypeError(f"message data must be a str or a bytes-like object, "
                        f"not {type(data).__name__!r}") from None
    try:
        return _frame(0x2, <const char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


cdef bytes _frame(unsigned char opcode, const char* src, Py_ssize_t n):
    cdef Py_ssize_t head = 2 if n < 126 else (4 if n < 65536 else 10)
    cdef bytes out
    cdef unsigned char* dst
    cdef int i
    out = PyBytes_FromStringAndSize(NULL, head + n)
    dst = <unsigned char*>PyBytes_AS_STRING(out)
    dst[0] = 0x80 | opcode
    if n < 126:
        dst[1] = <unsigned char>n
    elif n < 65536:
        dst[1] = 126
        dst[2] = <unsigned char>(n >> 8)
        dst[3] = <unsigned char>n
    else:
        dst[1] = 127
        for i in range(8):
            dst[2 + i] = <unsigned char>((<uint64_t>n) >> (56 - 8 * i))
    memcpy(dst + head, src, n)
    return out
