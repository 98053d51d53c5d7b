# Paper samplerob: sample robustness of datasets. Tables: outputs/tables/samplerob/.
# Steps: (1) R within x and t + L/M subset index files for each dataset (`samplerob prepare`),
# (2) scikit-learn 1-NN / KNN regressor / random forest on every training subset, (3) small
# CNN and ResNet-56 sweeps (training subset x seed) evaluated on every test subset,
# (4) rbr-tables. Paper scale: CIFAR-10 (tables 1-5), MNIST at 28x28 (table 10), ONP (6-9).
# Smoke scale: the networks and 1-NN train on MNIST-format data at 12x12 (the stand-in
# digits unless DATA= is given; the SWEEP macro passes data.root, which only file-based
# datasets accept, and 12 px is the smallest size the small CNN's two valid convs + pools
# take), table 1 uses the CIFAR-10-format stand-in, tables 6-9 use ONP when its CSV is
# under the data folder, else scikit-learn's diabetes set (a stand-in; median-target
# pseudo-task). Subset counts are scaled to the set sizes, names kept.
SR = samplerob
SR_DIR = $(call SWEEP_DIR,$(SR))
SR_CLI = $(BIN)/rbr-samplerob
SR_IMAGE_paper := dataset=cifar10
SR_IMAGE_smoke := dataset=mnist data.image_size=12
SR_IMAGE = $(SR_IMAGE_$(SCALE))
SR_IMAGE_NAME = $(word 2,$(subst =, ,$(firstword $(SR_IMAGE))))
SR_LIKE_paper := cifar10
SR_LIKE_smoke := cifar10,mnist
SR_ONP_CSV = $(wildcard $(DATA_ROOT)/OnlineNewsPopularity/OnlineNewsPopularity.csv $(DATA_ROOT)/OnlineNewsPopularity.csv)
SR_REG = $(if $(filter paper,$(SCALE)),onp,$(if $(SR_ONP_CSV),onp,diabetes))
SR_RF_SEEDS_paper := 0-24
SR_RF_SEEDS_smoke := 0-4
SR_RF_JOBS_paper := -1
SR_RF_JOBS_smoke := 1
SR_PREPARE = $(SR_CLI) prepare --out $(SR_DIR) --scale $(SCALE)
# Smoke scale: one intra-op thread per process unless OMP_NUM_THREADS is set (the networks are
# tiny; on a shared 2-core machine two threads per process were ~3x slower, see the docs).
SR_ENV = $(if $(filter smoke,$(SCALE)),OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1})

reproduce-samplerob: $(STAMP) $(DATA_PREREQ) ## paper samplerob: sample robustness subsets, CNN/KNN/RF matrices (tables 1-10, E.1)
	$(SR_ENV) $(SR_PREPARE) --like $(SR_LIKE_$(SCALE)) -- $(SR_IMAGE) data.root=$(DATA_ROOT)
	$(if $(filter-out cifar10,$(SR_IMAGE_NAME)),$(SR_ENV) $(SR_PREPARE) --like cifar10 -- dataset=cifar10 data.root=$(DATA_ROOT))
	$(if $(filter paper,$(SCALE)),$(SR_PREPARE) --like mnist -- dataset=mnist data.image_size=28 data.root=$(DATA_ROOT))
	$(SR_ENV) $(SR_PREPARE) --like onp -- dataset=$(SR_REG) $(if $(filter onp,$(SR_REG)),data.root=$(DATA_ROOT))
	$(SR_ENV) $(SR_CLI) neighbors knn --study $(SR_DIR)/$(SR_IMAGE_NAME)-robustness --out $(SR_DIR) --scale $(SCALE) --k 1 --weights uniform
	$(SR_ENV) $(SR_CLI) neighbors knn --study $(SR_DIR)/$(SR_REG)-robustness --out $(SR_DIR) --scale $(SCALE) --k 1-15 --weights uniform,distance
	$(SR_ENV) $(SR_CLI) neighbors rf --study $(SR_DIR)/$(SR_REG)-robustness --out $(SR_DIR) --scale $(SCALE) --trees 1-9 --criteria mae,mse --seeds $(SR_RF_SEEDS_$(SCALE)) --jobs $(SR_RF_JOBS_$(SCALE))
	$(SR_ENV) $(call SWEEP,$(SR)) experiment=samplerob/small_cnn $(SR_IMAGE)
	$(SR_ENV) $(call SWEEP,$(SR)) experiment=samplerob/resnet56_select $(SR_IMAGE)
	$(SR_ENV) $(SR_CLI) select-best $(SR_DIR)
	$(SR_ENV) $(call SWEEP,$(SR)) experiment=samplerob/resnet56 $(SR_IMAGE)
	$(SR_ENV) $(TABLES) $(SR_DIR) --table samplerob --out outputs/tables/samplerob
