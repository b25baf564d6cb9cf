"""The generic training loop: it only calls ``method(batch)``; everything else is bookkeeping.

Runs as one process, or one process per device under torchrun (DDP around the method, which
holds the student and any trainable helpers; the frozen teacher is simply replicated).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from srkd import __version__
from srkd.data.dataset import HRFolderDataset
from srkd.device import pick_device
from srkd.distill import distributed
from srkd.distill import resume as resume_ckpt
from srkd.distill import runfolder
from srkd.distill.config import DistillConfig, save_config
from srkd.distill.diagnostics import term_grad_norms
from srkd.distill.ema import EMA
from srkd.distill.loader import Prefetcher
from srkd.distill.precision import grad_scaler
from srkd.distill.runlog import RunLog, TrainResult, write_summary
from srkd.distill.setup import build_method, run_precision
from srkd.errors import TrainingError
from srkd.evaluate import evaluate
from srkd.interrupts import uninterrupted
from srkd.models import build_model, parse_arch_string
from srkd.models.checkpoint import save_model

log = logging.getLogger(__name__)
RESUME_FILE = resume_ckpt.RESUME_FILE


class Trainer:
    """Builds student, teacher, method and data from a config (writing nothing), then runs and checkpoints.

    A new run refuses a folder holding one unless ``overwrite``; ``resume`` continues it. See runfolder.
    """

    def __init__(self, cfg: DistillConfig, *, resume: bool = False, overwrite: bool = False,
                 progress: bool = True) -> None:
        self.cfg = cfg.validate()
        self.out = Path(cfg.out)
        self.resume, self.overwrite = resume, overwrite
        self.dist, self.device = distributed.init(pick_device(cfg.device))
        if not resume and self.dist.main:
            runfolder.check_new_run(self.out, overwrite=overwrite)
        self.progress = progress and self.dist.main
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)  # identical student init on every rank
        arch, hp = parse_arch_string(cfg.student, scale=cfg.scale)
        self.student = build_model(arch, hp).to(self.device)
        saved = resume_ckpt.read(self.out) if resume else None
        self.prec = run_precision(cfg, self.student, self.device, self.dist, saved=saved)
        self.method = build_method(cfg, self.student, self.device, channels_last=self.prec.channels_last)
        resolved = self.method.resolved_args()
        unrecorded = sorted(set(resolved) - set(cfg.method_args))
        if resume and unrecorded and self.dist.main:  # a config.yaml from before every option was recorded
            log.warning("%s: config.yaml does not record the %s option(s) %s; the run goes on with today's "
                        "defaults (%s); pass --method-arg KEY=VALUE where it started with others", self.out,
                        cfg.method, ", ".join(unrecorded), ", ".join(f"{k}={resolved[k]}" for k in unrecorded))
        self.cfg = cfg = dataclasses.replace(cfg, method_args=resolved)  # every option written out
        self.params = list(self.student.parameters()) + self.method.helper_parameters()
        self.opt = torch.optim.Adam(self.params, lr=cfg.lr, betas=(0.9, 0.99))
        self.scaler = grad_scaler(self.prec, self.device)
        self.ema = EMA(self.student, decay=cfg.ema_decay)
        self.step_module = distributed.wrap(self.method, self.dist, self.device,
                                            find_unused=bool(self.method.helper_parameters()))
        torch.manual_seed(cfg.seed + 1_000_003 * self.dist.rank)  # per-rank randomness inside methods
        self.step, self.best_psnr, self.last_psnr = 0, None, None
        self.saved_step: int | None = None  # the step of the last checkpoint written or resumed from
        self.runlog = RunLog(self.out / "log.jsonl")
        self.data_position: str | None = None  # where this rank's data stream continues (set by load_state_dict)
        if resume:
            self.load_state_dict(saved)
        self.data = HRFolderDataset(cfg.data, scale=cfg.scale, patch=cfg.patch, progress=self.progress)
        self.loader = Prefetcher(self.data, batch=cfg.batch, seed=(cfg.seed, self.dist.rank), state=self.data_position)
        self._started = self._created = False
        log.log(logging.WARNING if self.prec.emulated else logging.INFO,
                "precision %s (%s), device %s, %d training images, world size %d", self.prec.name,
                self.prec.reason, self.device, len(self.data), self.dist.world)

    def _start_writing(self) -> None:
        """The first write to the run folder: made ready (see runfolder.start), the log begun, the config saved."""
        if self._started:
            return
        self._started = True
        if self.dist.main:
            with uninterrupted():  # a signal inside comes after _created is known, so discard can clean up
                self._created = runfolder.start(self.out, resume=self.resume, overwrite=self.overwrite)
            self.runlog.begin(resumed_at=self.step if self.resume else None)
            save_config(self.cfg, self.out / "config.yaml")
        distributed.barrier(self.dist)

    def lr_at(self, step: int) -> float:
        """Multistep schedule: lr * gamma^(milestones passed), milestones as fractions of the run."""
        passed = sum(step >= int(m * self.cfg.steps) for m in self.cfg.lr_milestones)
        return self.cfg.lr * self.cfg.lr_gamma**passed

    def train_step(self, lr_img: torch.Tensor, hr_img: torch.Tensor) -> dict[str, float]:
        """One iteration: ``method.updates_per_step`` optimizer steps (AugKD's ``two_step``: 2), one EMA update."""
        mf = torch.channels_last if self.prec.channels_last else torch.contiguous_format
        batch = {"lr": lr_img.to(self.device).contiguous(memory_format=mf), "hr": hr_img.to(self.device)}
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.method.train()
        n = self.method.updates_per_step
        every = self.cfg.term_grads_every
        diagnose = every and (self.step + 1) % every == 0 and self.dist.main and not self.dist.enabled
        logged: dict[str, float] = {}
        norms: dict[str, float] = {}
        for phase in range(n):
            with self.prec.autocast(self.device):
                parts = self.step_module(batch, phase=phase) if n > 1 else self.step_module(batch)
            if diagnose:
                norms.update(term_grad_norms(self.method, parts))
            self._update(parts["loss"])
            for k, v in parts.items():
                logged[k] = logged.get(k, 0.0) + float(v.detach())
        if diagnose:
            self.runlog.write({"step": self.step + 1, "term_grad_norms": norms})
        self.ema.update(self.student)
        self.step += 1
        return logged

    def _update(self, loss: torch.Tensor) -> None:
        """Backward and one optimizer step; a non-finite loss stops the run on every rank."""
        if distributed.any_true(self.dist, not bool(torch.isfinite(loss.detach()))):
            kept = (f"the last good checkpoint (step {self.saved_step}) is kept in {self.out / RESUME_FILE}"
                    if self.saved_step is not None else "no checkpoint had been written, so nothing was kept")
            raise TrainingError(f"loss is not finite ({loss.item()}) at step {self.step + 1}; stopped, {kept}")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # fp16: scaled so small gradients survive; else unchanged
        if self.cfg.grad_clip:
            self.scaler.unscale_(self.opt)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.scaler.step(self.opt)  # skips the step when fp16 gradients overflowed
        self.scaler.update()

    def validate(self) -> float | None:
        """Rank 0 scores the EMA student on the validation folder; the best is saved."""
        if not self.cfg.val or not self.dist.main:
            return None
        res = evaluate(self.ema.model, data=self.cfg.val, scale=self.cfg.scale, device=self.device,
                       limit=self.cfg.val_limit, with_ssim=False)
        self.last_psnr = res.psnr
        self.runlog.write({"step": self.step, "val_psnr": res.psnr})
        if self.best_psnr is None or res.psnr > self.best_psnr:
            self.best_psnr = res.psnr
            save_model(self.out / "student_best.safetensors", self.ema.model, provenance=self.provenance())
        return res.psnr

    def provenance(self) -> dict:
        c = self.cfg
        return {"method": c.method, "teacher": c.teacher, "data": c.data, "steps": self.step,
                "precision": self.prec.name, "world_size": self.dist.world, "srkd_version": __version__}

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, as ``resume.pt`` holds it (``weights_only``-readable). Collective under
        torchrun: every rank's RNG states and data position are gathered, so every rank calls it."""
        return {
            "step": self.step, "world_size": self.dist.world, "precision": self.prec.name,
            "student": self.student.state_dict(), "ema": self.ema.state_dict(),
            "method": self.method.helper_state(), "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),  # fp16's loss scale ({} when not fp16)
            "best_psnr": self.best_psnr if self.best_psnr is not None else float("nan"),
            "rng": distributed.gather_rng(self.dist, self.device, data=self.loader.position()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s ``state``: weights, EMA, the method's helpers, optimizer, step, best
        PSNR, this rank's RNG states and data position (``data_position``); TrainingError when it does not fit."""
        path = self.out / RESUME_FILE
        if int(state.get("world_size", 1)) != self.dist.world:
            raise TrainingError(f"{path}: saved by {state.get('world_size', 1)} processes, resumed with "
                                f"{self.dist.world}; resume with the same --nproc-per-node x nodes")
        self.student.load_state_dict(state["student"])
        self.ema.load_state_dict(state["ema"])
        self.method.load_helper_state(state["method"], where=path)
        self.opt.load_state_dict(state["optimizer"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        best = float(state["best_psnr"])
        self.best_psnr = None if math.isnan(best) else best
        self.data_position = distributed.restore_rng(state["rng"][self.dist.rank], self.device)
        self.saved_step = self.step  # the checkpoint this run continues from

    def save_checkpoint(self) -> None:
        """Student (EMA) and the resume checkpoint, atomically; every rank takes part, rank 0 writes."""
        state = self.state_dict()
        if self.dist.main:
            with uninterrupted():  # a stop mid-save comes after it: the checkpoint whole, and known to be kept
                save_model(self.out / "student_last.safetensors", self.ema.model, provenance=self.provenance())
                resume_ckpt.write(self.out, state)
                self.saved_step = self.step
        distributed.barrier(self.dist)
        self.saved_step = self.step
        if self.dist.main:
            self.runlog.plot(self.out / "curves.png")

    def _log(self, acc: dict[str, float], n: int, start_step: int, t0: float, bar: tqdm) -> None:
        avg = distributed.mean(self.dist, {k: v / n for k, v in acc.items()})
        if not self.dist.main:
            return
        elapsed = time.perf_counter() - t0
        rec = {"step": self.step, **avg, "lr": self.lr_at(self.step - 1),
               "sec_per_step": elapsed / (self.step - start_step), "data_wait_share": self.loader.wait_s / elapsed}
        self.runlog.write(rec)
        bar.set_postfix(loss=f"{rec['loss']:.4f}")

    def run(self, *, until: int | None = None) -> TrainResult:
        """Train to ``cfg.steps`` (or stop after step ``until`` without a checkpoint, as a killed run would)."""
        cfg = self.cfg
        stop = min(cfg.steps, until) if until else cfg.steps
        bar = None
        acc: dict[str, float] = {}
        try:  # from the first write on: a stop before the first checkpoint leaves nothing
            self._start_writing()
            start_step, t0 = self.step, time.perf_counter()
            bar = tqdm(total=cfg.steps, initial=self.step, desc="distill", disable=None if self.progress else True,
                       dynamic_ncols=True)  # None: off when not a terminal
            while self.step < stop:
                for k, v in self.train_step(*self.loader.next()).items():
                    acc[k] = acc.get(k, 0.0) + v
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    self._log(acc, (self.step - 1) % cfg.log_every + 1, start_step, t0, bar)
                    acc = {}
                if self.step % cfg.val_every == 0 or self.step == cfg.steps:
                    psnr = self.validate()
                    distributed.barrier(self.dist)
                    if psnr is not None:
                        bar.set_postfix(loss=bar.postfix, val=f"{psnr:.2f}")
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                    self.save_checkpoint()
        except BaseException:
            if self.saved_step is None and self.dist.main:  # nothing to resume: leave nothing behind
                runfolder.discard(self.out, created=self._created)
            raise
        finally:
            if bar is not None:
                bar.close()
            self.loader.close()
        if not cfg.val and self.dist.main:  # nothing to pick "best" by: best is the last
            save_model(self.out / "student_best.safetensors", self.ema.model, provenance=self.provenance())
        elapsed = time.perf_counter() - t0
        result = TrainResult(self.out, self.step, self.best_psnr, self.last_psnr, self.prec.name,
                             elapsed / max(self.step - start_step, 1), self.loader.wait_s / max(elapsed, 1e-9),
                             world_size=self.dist.world, effective_batch=cfg.batch * self.dist.world)
        if self.dist.main:
            write_summary(self.out / "summary.json", result, precision_reason=self.prec.reason)
        distributed.barrier(self.dist)
        return result

    def close(self) -> None:
        distributed.shutdown(self.dist)
