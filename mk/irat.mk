# Paper B: margin reweighting for IRAT (Revisiting IRAT, docs/papers/irat.md). Docs: docs/reproduce/irat.md.
# irat/main: 7 schemes x ResNet-18 / WRN34-10 x CIFAR-10 / CIFAR-100 x 5 seeds (last + best
# checkpoints, margins.csv); ablation_tau / ablation_sim reuse its default-tau runs.
# Shared warm-up (docs/warmup.md; WARMUP=none trains every run from epoch 0): first the Standard
# (PGD-AT) runs, each keeping its state after epoch 75 (the burn-in of every reweighted scheme of
# paper B, smoke: 1); then each reweighted run branches from the Standard run of its (model,
# dataset, seed) found in the sweep folder (the same computation for epochs 1..75, bit for bit).
IRAT_BRANCH_AT = $(if $(filter smoke,$(SCALE)),[1],[75])
.PHONY: reproduce-irat
reproduce-irat: $(STAMP) $(DATA_PREREQ) ## paper B (Revisiting IRAT, docs/papers/irat.md): margin reweighting for IRAT -> outputs/tables/irat
	$(if $(WARMUP_SHARED),$(call SWEEP,irat) experiment=irat/main +experiment/irat/scheme=standard warmup.save_at=$(IRAT_BRANCH_AT))
	$(call SWEEP,irat) experiment=irat/main $(WARMUP_FROM)
	$(call SWEEP,irat) experiment=irat/ablation_tau $(WARMUP_FROM)
	$(call SWEEP,irat) experiment=irat/ablation_sim $(WARMUP_FROM)
	$(TABLES) $(call SWEEP_DIR,irat) --table irat --out outputs/tables/irat
