# Paper vir: vulnerability-aware instance reweighting, VIR (Fakorede et al. 2023, docs/papers/vir.md). Docs: docs/reproduce/vir.md.
# Blocks (7 schemes x 4 seeds each): RN-18 CIFAR-10, WRN-34-10 CIFAR-10, RN-18 SVHN + CIFAR-100,
# RN-18 Tiny ImageNet; then the component and hyper-parameter ablations (RN-18 CIFAR-10).
# vir/table8 (WRN-28-10 + 20M EDM-generated images) needs data that is not available here:
# its spec yields the empty table; see docs/reproduce/vir.md for what to supply.
# Shared warm-up (docs/warmup.md; WARMUP=none trains every run from epoch 0): first the AT runs of
# each block, keeping their state after epochs 59 (GAIRAT's burn-in) and 75 (MAIL, VIR-AT), and
# the RN-18 CIFAR-10 VIR-TRADES runs (after 75: the prefix of the VIR-TRADES ablations; TRADES
# itself has another 1/lambda, so it does not share); then every run branches from a
# warm-up-equivalent run of the sweep folder when there is one. The branch epochs are config:
# warmup=vir (conf/warmup/vir.yaml; scale=smoke: conf/scale/smoke/warmup/vir.yaml, burn-in 1).
VIR_WARMUP_SCHEMES = at,vir_trades
.PHONY: reproduce-vir
reproduce-vir: $(STAMP) $(DATA_PREREQ) ## paper vir (Fakorede et al. 2023, docs/papers/vir.md): VIR reweighting -> outputs/tables/vir (table8 needs user data)
	$(if $(WARMUP_SHARED),$(call SWEEP,vir) experiment=vir/rn18_cifar10 '+experiment/vir/scheme=$(VIR_WARMUP_SCHEMES)' warmup=vir)
	$(if $(WARMUP_SHARED),for b in wrn_cifar10 rn18_svhn_cifar100 rn18_tinyimagenet; do \
	  $(call SWEEP,vir) experiment=vir/$$b +experiment/vir/scheme=at warmup=vir || exit 1; done)
	$(call SWEEP,vir) experiment=vir/rn18_cifar10 $(WARMUP_FROM)
	$(call SWEEP,vir) experiment=vir/wrn_cifar10 $(WARMUP_FROM)
	$(call SWEEP,vir) experiment=vir/rn18_svhn_cifar100 $(WARMUP_FROM)
	$(call SWEEP,vir) experiment=vir/rn18_tinyimagenet $(WARMUP_FROM)
	$(call SWEEP,vir) experiment=vir/ablation_components $(WARMUP_FROM)
	for hp in at_beta trades_beta at_alpha at_gamma trades_alpha trades_gamma; do \
	  $(call SWEEP,vir) experiment=vir/hp_$$hp $(WARMUP_FROM) || exit 1; done
	$(TABLES) $(call SWEEP_DIR,vir) --table vir --out outputs/tables/vir
	@echo "[vir] vir/table8 is empty by design: it needs WRN-28-10 runs on user-supplied EDM-generated data (docs/reproduce/vir.md)"
