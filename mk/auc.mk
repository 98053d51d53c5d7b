# Paper auc (Kunhardt, Deza & Poggio): normalized AUC robustness R of LeNet,
# ResNet50 and FullyConnectedNet on MNIST, CIFAR-10, Fusion (digit / object task) and the
# two pretrained conditions. Commands, runtimes and the paper's numbers:
# docs/reproduce/auc.md. SCALE=smoke|paper as in the main Makefile.
# One rbr-run per experiment: Hydra reads an experiment's hydra.sweeper.params (the seed
# sweep, 20 seeds / smoke 2) only when `experiment=` is not itself a sweep list; with
# `experiment=a,b` every job would run seed 0 alone. The pretrained conditions start from
# the final models of auc/mnist and auc/cifar10, so they run after them.
AUC_MODELS := lenet,fcnet,resnet50

.PHONY: reproduce-auc
reproduce-auc: $(STAMP) $(DATA_PREREQ) ## paper auc: normalized AUC robustness, auc/table1-18 and auc/fig4-7
	$(call SWEEP,auc) experiment=auc/mnist model=$(AUC_MODELS)
	$(call SWEEP,auc) experiment=auc/cifar10 model=$(AUC_MODELS)
	$(call SWEEP,auc) experiment=auc/fusion_digit model=$(AUC_MODELS)
	$(call SWEEP,auc) experiment=auc/fusion_object model=$(AUC_MODELS)
	$(call SWEEP,auc) experiment=auc/cifar10_to_mnist model=$(AUC_MODELS)
	$(call SWEEP,auc) experiment=auc/mnist_to_cifar10 model=$(AUC_MODELS)
	$(TABLES) $(call SWEEP_DIR,auc) --table auc --out outputs/tables/auc
