"""Every SIMD masking kernel this CPU can run gives the pure twin's bytes.

The compiled ``apply_mask`` picks its bulk kernel at import (AVX-512F, AVX2,
SSE2 on x86-64, else a portable word loop); the others are only reached on
other CPUs, so each one this CPU supports is switched in and checked here
(RFC 6455 §5.3), at every length around the kernels' block sizes and at
unaligned offsets. A CPU without AVX-512 cannot check that kernel; CI
machines with it do.
"""

from __future__ import annotations

import random
from typing import Iterator

import pytest

from wsproto6455 import _mask_py

from speedups_helpers import compiled, require_compiled

SIZES = [*range(0, 300), 511, 512, 513, 1023, 4096 + 5, 65536 + 7]


@pytest.fixture(params=["avx512", "avx2", "sse2", "word"])
def kernel(request: pytest.FixtureRequest) -> Iterator[str]:
    module = require_compiled()
    if request.param not in module.mask_kernels():
        pytest.skip(f"this CPU does not run the {request.param} kernel")
    previous = module.use_mask_kernel(request.param)
    try:
        yield request.param
    finally:
        module.use_mask_kernel(previous)


def test_kernel_matches_the_pure_twin(kernel: str) -> None:
    apply_mask = compiled("apply_mask")
    rnd = random.Random(kernel)
    for size in SIZES:
        data = rnd.randbytes(size + 3)
        key = rnd.randbytes(4)
        for offset in (0, 1, 3):
            piece = data[offset:offset + size]
            expected = _mask_py.apply_mask(piece, key)
            assert apply_mask(piece, key) == expected, (kernel, size, offset)
            assert apply_mask(memoryview(data)[offset:offset + size], key) == expected


def test_the_best_kernel_is_in_use_and_unknown_names_are_refused() -> None:
    module = require_compiled()
    kernels = module.mask_kernels()
    assert kernels[-1] == "word" and module.mask_kernel() == kernels[0]
    with pytest.raises(ValueError):
        module.use_mask_kernel("avx1024")
    assert module.mask_kernel() == kernels[0]
