"""Paper "vir": Fakorede, Nirala, Atsague, Tian, "Vulnerability-Aware Instance Reweighting for
Adversarial Training", TMLR 2023, arXiv 2307.07167 (docs/papers/vir.md). VIR weights each
point by its vulnerability and the adversarial prediction gap, in AT and TRADES (experiments:
conf/experiment/vir/, tables: conf/table/vir/)."""
