# Paper A (appendix of arXiv 2207.03400): PRS ratio. Commands, runtimes and the
# paper's numbers: docs/reproduce/prs.md. SCALE=smoke|paper as in the main Makefile.
PRS_MODELS := cnn6,vgg16,resnet18_tv
PRS_DATASETS := mnist,fmnist,cifar10
# prs/table7 and prs/fig19 attack, per architecture x dataset, a low- and a high-PRS network
# of the candidate sweep: seed 907 at epoch 200 (VGG-16 on CIFAR-10: epoch 75; paper A,
# appendix G), batch sizes 128 / 2048 (choice: the low/high-PRS pair of table 4; the smoke
# sweep's batch sizes are 16 / 64 and its epochs 2 / 1). Keep in step with the specs
# conf/table/prs/table7.yaml and the sweep conf/experiment/prs/candidates.yaml.
PRS_T7_SEED := 907
PRS_T7_BS_paper := 128 2048
PRS_T7_BS_smoke := 16 64
PRS_T7_EPOCH_paper := 200
PRS_T7_EPOCH_smoke := 2
PRS_T7_EPOCH_VGG_CIFAR_paper := 75
PRS_T7_EPOCH_VGG_CIFAR_smoke := 1
prs_t7_epoch = $(if $(and $(filter vgg16,$(1)),$(filter cifar10,$(2))),$(PRS_T7_EPOCH_VGG_CIFAR_$(SCALE)),$(PRS_T7_EPOCH_$(SCALE)))
prs_t7_ckpt = $(call SWEEP_DIR,prs)/$(2)-$(1)-standard-s$(PRS_T7_SEED)-bs$(3)/ckpt/epoch_$(shell printf %03d $(call prs_t7_epoch,$(1),$(2))).pt
PRS_EMPTY :=
PRS_SPACE := $(PRS_EMPTY) $(PRS_EMPTY)
PRS_COMMA := ,
PRS_T7_CKPTS = $(subst $(PRS_SPACE),$(PRS_COMMA),$(strip $(foreach m,$(subst $(PRS_COMMA), ,$(PRS_MODELS)),$(foreach d,$(subst $(PRS_COMMA), ,$(PRS_DATASETS)),$(foreach b,$(PRS_T7_BS_$(SCALE)),$(call prs_t7_ckpt,$(m),$(d),$(b)))))))

.PHONY: reproduce-prs
reproduce-prs: $(STAMP) $(DATA_PREREQ) ## paper A: PRS ratio tables 1-7, appendix AUC tables, fig16-19
	$(call SWEEP,prs) experiment=prs/candidates model=$(PRS_MODELS) dataset=$(PRS_DATASETS)
	$(call SWEEP,prs) experiment=prs/ablation model.dropout=0.0,0.2
	$(call SWEEP,prs) experiment=prs/ablation model.batch_norm=true
	$(call SWEEP,prs) experiment=prs/fig18_pretrain
	$(call SWEEP,prs) experiment=prs/fig18_continue_st,prs/fig18_continue_at
	$(call SWEEP,prs) experiment=prs/table7_eval checkpoint=$(PRS_T7_CKPTS)
	$(TABLES) $(call SWEEP_DIR,prs) --table prs --out outputs/tables/prs
