"""Paper "prs": the PRS ratio (populated region set) and adversarial robustness, arXiv
2207.03400 (docs/papers/prs.md). It trains CNN-6 / VGG-16 / ResNet-18 candidates on MNIST,
Fashion-MNIST and CIFAR-10 and relates the PRS ratio and the denseness of the decision regions
to robust accuracy (experiments: conf/experiment/prs/, tables: conf/table/prs/)."""
