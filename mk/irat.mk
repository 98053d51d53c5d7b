# Paper irat: margin reweighting for IRAT (Revisiting IRAT, docs/papers/irat.md). Docs: docs/reproduce/irat.md.
# irat/main: 7 schemes x ResNet-18 / WRN34-10 x CIFAR-10 / CIFAR-100 x 5 seeds (last + best
# checkpoints, margins.csv); ablation_tau / ablation_sim reuse its default-tau runs.
# Shared warm-up (docs/warmup.md; WARMUP=none trains every run from epoch 0): first the Standard
# (PGD-AT) runs, each keeping its state after epoch 75 (the burn-in of every reweighted scheme of
# paper irat); then each reweighted run branches from the Standard run of its (model, dataset, seed)
# found in the sweep folder (the same computation for epochs 1..75, bit for bit). The branch epochs
# are config: warmup=irat (conf/warmup/irat.yaml; scale=smoke: conf/scale/smoke/warmup/irat.yaml).
.PHONY: reproduce-irat
reproduce-irat: $(STAMP) $(DATA_PREREQ) ## paper irat (Revisiting IRAT, docs/papers/irat.md): margin reweighting for IRAT -> outputs/tables/irat
	$(if $(WARMUP_SHARED),$(call SWEEP,irat) experiment=irat/main +experiment/irat/scheme=standard warmup=irat)
	$(call SWEEP,irat) experiment=irat/main $(WARMUP_FROM)
	$(call SWEEP,irat) experiment=irat/ablation_tau $(WARMUP_FROM)
	$(call SWEEP,irat) experiment=irat/ablation_sim $(WARMUP_FROM)
	$(TABLES) $(call SWEEP_DIR,irat) --table irat --out outputs/tables/irat
