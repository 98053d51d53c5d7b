"""MLflow (``logger=mlflow``): an embedded store, no server, unless ``tracking_uri`` is set.

Default store: ``sqlite:///<run dir>/mlflow.db`` (artifacts in ``<run dir>/mlartifacts``).
MLflow 3 keeps the older ``./mlruns`` file store in maintenance mode and refuses to open one
unless ``MLFLOW_ALLOW_FILE_STORE=true``; its own local recommendation is this SQLite file
(``tracking_uri: file:...`` still works where that variable is set). The run is named after
the rbr run and tagged ``rbr.run``, ``rbr.config_hash``, ``rbr.run_dir``; the resolved config
is logged as parameters. On resume the run id stored in ``trackers.json`` is reopened and its
metric history read back, so only new points are logged.
"""

from __future__ import annotations

import time

from .base import Backend, RunInfo

MAX_PARAMS_PER_BATCH = 100  # MLflow's log_batch limits
MAX_METRICS_PER_BATCH = 1000
MAX_PARAM_VALUE = 6000


def _imports():
    try:
        from mlflow.entities import Metric, Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError as e:
        raise MlflowBackend.missing("mlflow") from e
    return MlflowClient, Metric, Param, MlflowException


def default_uri(run: RunInfo) -> str:
    return f"sqlite:///{(run.dir / 'mlflow.db').resolve()}"


class MlflowBackend(Backend):
    name = "mlflow"

    def __init__(self, settings: dict, run: RunInfo):
        super().__init__(settings, run)
        MlflowClient, _, Param, MlflowException = _imports()
        self.uri = str(self.settings.get("tracking_uri") or default_uri(run))
        self.client = MlflowClient(tracking_uri=self.uri)
        state = run.state(self.name)
        self.run_id = state.get("run_id") if state.get("tracking_uri") == self.uri else None
        if self.run_id is not None:
            try:
                self.client.get_run(self.run_id)
            except MlflowException:
                self.run_id = None  # the store was replaced: start a new tracker run
        if self.run_id is None:
            self.run_id = self._create_run()
            run.save_state(self.name, {"run_id": self.run_id, "tracking_uri": self.uri})
        else:
            self.client.update_run(self.run_id, status="RUNNING")
        data = self.client.get_run(self.run_id).data
        for key in data.metrics:
            self.seen.update((key, m.step) for m in self.client.get_metric_history(self.run_id, key))
        todo = [Param(k, v[:MAX_PARAM_VALUE]) for k, v in run.params.items() if k not in data.params]
        for i in range(0, len(todo), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=todo[i : i + MAX_PARAMS_PER_BATCH])

    def _create_run(self) -> str:
        name = str(self.settings.get("experiment") or "robustbench_runner")
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            exp_id = exp.experiment_id
        else:
            location = None if self.settings.get("tracking_uri") else (self.run.dir / "mlartifacts").resolve().as_uri()
            exp_id = self.client.create_experiment(name, artifact_location=location)
        return self.client.create_run(exp_id, run_name=self.run.name, tags=self.run.tags).info.run_id

    def log_points(self, points) -> None:
        _, Metric, _, _ = _imports()
        now = int(time.time() * 1000)
        metrics = [Metric(p.key, p.value, now, p.step) for p in points]
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])

    def close(self) -> None:
        self.client.set_terminated(self.run_id, "FINISHED")
