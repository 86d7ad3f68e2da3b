"""Known-answer tests of the stand-in's Keccak-256 (tx hashes depend on it)."""

from __future__ import annotations

import hashlib

import pytest

from harness.standins.erigon.keccak import keccak256, sponge256


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        (
            b"The quick brown fox jumps over the lazy dog",
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
        ),
        (b"transfer(address,uint256)", "a9059cbb"),
    ],
)
def test_keccak256_matches_known_digests_when_hashing_vectors(message, digest):
    assert keccak256(message).hex().startswith(digest)


@pytest.mark.parametrize("size", [0, 1, 135, 136, 137, 271, 272, 273, 1000])
def test_sponge_equals_hashlib_sha3_when_given_sha3_padding(size):
    # SHA3-256 is the same permutation and rate with another padding byte, so
    # this checks the permutation and multi-block absorbing against hashlib.
    data = (bytes(range(256)) * 4)[:size]
    assert sponge256(data, 0x06) == hashlib.sha3_256(data).digest()
