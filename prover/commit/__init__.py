"""Commitments: Merkle trees and keccak (merkle, keccak), the model, step and I/O commitments (model), the
tracer that commits a run step by step (trace), and one-step witnesses (witness). docs/encoding.md is the spec."""
