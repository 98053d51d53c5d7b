# Paper E: vulnerability-aware instance reweighting, VIR (Fakorede et al. 2023, docs/papers/vir.md). Docs: docs/reproduce/vir.md.
# Blocks (7 schemes x 4 seeds each): RN-18 CIFAR-10, WRN-34-10 CIFAR-10, RN-18 SVHN + CIFAR-100,
# RN-18 Tiny ImageNet; then the component and hyper-parameter ablations (RN-18 CIFAR-10).
# vir/table8 (WRN-28-10 + 20M EDM-generated images) needs data that is not available here:
# its spec yields the empty table; see docs/reproduce/vir.md for what to supply.
.PHONY: reproduce-vir
reproduce-vir: $(STAMP) $(DATA_PREREQ) ## paper E (Fakorede et al. 2023, docs/papers/vir.md): VIR reweighting -> outputs/tables/vir (table8 needs user data)
	$(call SWEEP,vir) experiment=vir/rn18_cifar10
	$(call SWEEP,vir) experiment=vir/wrn_cifar10
	$(call SWEEP,vir) experiment=vir/rn18_svhn_cifar100
	$(call SWEEP,vir) experiment=vir/rn18_tinyimagenet
	$(call SWEEP,vir) experiment=vir/ablation_components
	for hp in at_beta trades_beta at_alpha at_gamma trades_alpha trades_gamma; do \
	  $(call SWEEP,vir) experiment=vir/hp_$$hp || exit 1; done
	$(TABLES) $(call SWEEP_DIR,vir) --table vir --out outputs/tables/vir
	@echo "[vir] vir/table8 is empty by design: it needs WRN-28-10 runs on user-supplied EDM-generated data (docs/reproduce/vir.md)"
