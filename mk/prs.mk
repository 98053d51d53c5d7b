# Paper prs (appendix of arXiv 2207.03400): PRS ratio. Commands, runtimes and the
# paper's numbers: docs/reproduce/prs.md. SCALE=smoke|paper as in the main Makefile.
PRS_MODELS := cnn6,vgg16,resnet18_tv
PRS_DATASETS := mnist,fmnist,cifar10
# prs/table7 and prs/fig19 attack, per architecture x dataset, a low- and a high-PRS network
# of the candidate sweep; the checkpoint list is config (hydra.sweeper.params of
# conf/experiment/prs/table7_eval.yaml and its smoke overlay conf/scale/smoke/prs/table7_eval.yaml).

.PHONY: reproduce-prs
reproduce-prs: $(STAMP) $(DATA_PREREQ) ## paper prs: PRS ratio tables 1-7, appendix AUC tables, fig16-19
	$(call SWEEP,prs) experiment=prs/candidates model=$(PRS_MODELS) dataset=$(PRS_DATASETS)
	$(call SWEEP,prs) experiment=prs/ablation model.dropout=0.0,0.2
	$(call SWEEP,prs) experiment=prs/ablation model.batch_norm=true
	$(call SWEEP,prs) experiment=prs/fig18_pretrain
	$(call SWEEP,prs) experiment=prs/fig18_continue_st,prs/fig18_continue_at
	$(call SWEEP,prs) experiment=prs/table7_eval
	$(TABLES) $(call SWEEP_DIR,prs) --table prs --out outputs/tables/prs
