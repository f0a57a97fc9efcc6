"""Batched inference for batch-1 Nx artifacts.

The artifact on disk stays batch 1 (rule B3). For serving, `build_runner` makes an in-memory
variant whose input/output dim 0 is symbolic, runs it once on two samples and compares with the
original batch-1 session; if the graph does not allow it (a Reshape to a constant (1, ...) shape,
say) or the numbers differ, the runner falls back to one image per run and says why.

`Batcher` gathers images from concurrent requests into one run: one worker per model, one
inference thread, so inference never competes with itself for the CPU while decoding goes on in
other threads.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from nxport.serving.settings import BatchingMode

log = logging.getLogger("nxport.serving")

BATCH_DIM = "batch"
VERIFY_ATOL, VERIFY_RTOL = 1e-4, 1e-3


def make_session(model_bytes: bytes, threads: int):
    from nxport.core.sessions import cpu_session

    # Decode threads share the cores: idle ORT workers must not spin on them.
    return cpu_session(model_bytes, threads=threads, spinning=False)


def dynamic_batch_variant(model, input_name: str):
    """A copy of `model` whose input `input_name` and every graph output have a symbolic dim 0."""
    import onnx

    variant = onnx.ModelProto()
    variant.CopyFrom(model)
    for value in [*[i for i in variant.graph.input if i.name == input_name], *variant.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_value in (0, 1):
            dims[0].Clear()
            dims[0].dim_param = BATCH_DIM
    del variant.graph.value_info[:]  # intermediate shapes recorded for batch 1 would contradict
    return variant


def joined_outputs(session, names: list[str], feeds: dict) -> np.ndarray:
    """The named outputs as one (N, total) array, side by side in `names` order: the batcher moves one
    array per sample, so companion outputs (a classifier's `alarm-` flags) travel beside the primary one."""
    outputs = session.run(names, feeds)
    if len(outputs) == 1:
        return outputs[0]
    return np.concatenate([o.reshape(len(o), -1) for o in outputs], axis=1)


@dataclass
class BatchRunner:
    """Runs (N, ...) inputs through one session; `mode` says whether N > 1 runs at once."""

    session: object
    input_name: str
    output_name: str
    mode: BatchingMode
    max_batch: int
    reason: str = ""
    extra_outputs: tuple[str, ...] = ()  # joined after the primary output (see joined_outputs)

    def run(self, batch: np.ndarray) -> np.ndarray:
        step = self.max_batch if self.mode is BatchingMode.DYNAMIC else 1
        names = [self.output_name, *self.extra_outputs]
        outputs = [joined_outputs(self.session, names, {self.input_name: batch[i:i + step]})
                   for i in range(0, len(batch), step)]
        return np.concatenate(outputs, axis=0)

    def describe(self) -> dict:
        info = {"mode": self.mode.value, "max_batch": self.max_batch if self.mode is BatchingMode.DYNAMIC else 1}
        return {**info, "reason": self.reason} if self.reason else info


def build_runner(model, input_name: str, output_name: str, samples: np.ndarray, *, threads: int,
                 max_batch: int, mode: BatchingMode, extra_outputs: tuple[str, ...] = ()) -> BatchRunner:
    """Session for `model`; with mode DYNAMIC a verified batch-N variant when the graph allows one.

    `samples` (2, ...) are fed one by one to the original (which also proves the artifact runs)
    and together to the variant."""
    names = [output_name, *extra_outputs]
    base = make_session(model.SerializeToString(), threads)
    expected = np.concatenate([joined_outputs(base, names, {input_name: samples[i:i + 1]}) for i in range(2)])
    runner = BatchRunner(base, input_name, output_name, BatchingMode.PER_IMAGE, max_batch, extra_outputs=extra_outputs)
    if mode is BatchingMode.PER_IMAGE:
        runner.reason = "per-image batching requested"
        return runner
    if max_batch == 1:
        runner.reason = "max batch is 1"
        return runner
    try:
        session = make_session(dynamic_batch_variant(model, input_name).SerializeToString(), threads)
        got = joined_outputs(session, names, {input_name: samples})
    except Exception as exc:  # ORT raises its own exception types for shape errors; any means "no"
        runner.reason = f"the graph does not run with batch 2 ({type(exc).__name__}: {str(exc)[:200]})"
        return runner
    if got.shape != expected.shape or not np.allclose(got, expected, atol=VERIFY_ATOL, rtol=VERIFY_RTOL):
        diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("nan")
        runner.reason = f"batch-2 outputs differ from batch-1 ({got.shape} vs {expected.shape}, max |d| {diff:.3g})"
        return runner
    return BatchRunner(session, input_name, output_name, BatchingMode.DYNAMIC, max_batch, extra_outputs=extra_outputs)


class Batcher:
    """Queue of single samples (1, ...) -> batched `runner.run` calls in one dedicated thread."""

    def __init__(self, name: str, runner: BatchRunner, max_wait_s: float = 0.0):
        self.name = name
        self.runner = runner
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{name}")

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.name}")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def infer(self, samples: list[np.ndarray]) -> np.ndarray:
        """Each sample (1, ...) -> the stacked outputs (N, ...), in order."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in samples]
        for sample, future in zip(samples, futures):
            self._queue.put_nowait((sample, future))
        return np.concatenate(await asyncio.gather(*futures), axis=0)

    async def _collect(self) -> list:
        batch = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(batch) < self.runner.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return [(sample, future) for sample, future in batch if not future.done()]  # drop cancelled

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if not batch:
                continue
            inputs = np.concatenate([sample for sample, _ in batch], axis=0)
            try:
                outputs = await loop.run_in_executor(self._executor, self.runner.run, inputs)
            except Exception as exc:  # handed to every waiting request; the server answers 500 Backend
                log.exception("inference failed for model %s", self.name)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for index, (_, future) in enumerate(batch):
                if not future.done():
                    future.set_result(outputs[index:index + 1])
