"""Paper "irat": "Revisiting Instance-Reweighted Adversarial Training" (anonymous, ICLR 2023
submission, OpenReview ALbEpTC4hBp; docs/papers/irat.md). It reweights the adversarial loss of
each training point by its margin (MAIL, WMMR and their margin-ratio variants) and compares
them with AT, GAIRAT and EWAT (experiments: conf/experiment/irat/, tables: conf/table/irat/)."""
