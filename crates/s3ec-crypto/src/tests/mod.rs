//! Unit tests that run against the compiled-in backend (CI runs them once per backend).

mod engines;
mod mutants;
mod out_of_place;
mod segments;
mod vectors;
mod wycheproof_vectors;
