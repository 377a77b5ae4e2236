"""Evidence in and out: OpenSSF model-signing bundles verified against the digests weightgate streamed
(`signatures`), and signed decision records, in-toto statements with a SLSA verification summary, written for
every gate decision (`attestation`)."""
