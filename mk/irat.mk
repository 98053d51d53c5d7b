# Paper B: margin reweighting for IRAT (Revisiting IRAT, docs/papers/irat.md). Docs: docs/reproduce/irat.md.
# irat/main: 7 schemes x ResNet-18 / WRN34-10 x CIFAR-10 / CIFAR-100 x 5 seeds (last + best
# checkpoints, margins.csv); ablation_tau / ablation_sim reuse its default-tau runs.
.PHONY: reproduce-irat
reproduce-irat: $(STAMP) $(DATA_PREREQ) ## paper B (Revisiting IRAT, docs/papers/irat.md): margin reweighting for IRAT -> outputs/tables/irat
	$(call SWEEP,irat) experiment=irat/main
	$(call SWEEP,irat) experiment=irat/ablation_tau
	$(call SWEEP,irat) experiment=irat/ablation_sim
	$(TABLES) $(call SWEEP_DIR,irat) --table irat --out outputs/tables/irat
