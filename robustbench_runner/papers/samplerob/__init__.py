"""Paper "samplerob": "Introducing Sample Robustness" (anonymous, ICLR 2021 submission,
OpenReview 8-sxWOto_iI; docs/papers/samplerob.md). It scores each training point by its distance
to the nearest point of another label, trains on the most / least robust subsets and studies
neighbour models on them (experiments: conf/experiment/samplerob/, tables:
conf/table/samplerob/)."""
