"""The generic training loop: it only calls ``method(batch)``; everything else is bookkeeping."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from srkd import __version__
from srkd.data.dataset import HRFolderDataset
from srkd.device import pick_device
from srkd.distill.config import DistillConfig, save_config
from srkd.distill.ema import EMA
from srkd.distill.loader import Prefetcher
from srkd.distill.methods import METHODS
from srkd.distill.precision import resolve_precision
from srkd.distill.runlog import RunLog
from srkd.distill.teacher import FrozenTeacher
from srkd.errors import TrainingError
from srkd.evaluate import evaluate
from srkd.fsutil import atomic_save
from srkd.models import build_model, parse_arch_string
from srkd.models.checkpoint import save_model
from srkd.models.resolve import resolve_model

log = logging.getLogger(__name__)
RESUME_FILE = "resume.pt"


@dataclasses.dataclass
class TrainResult:
    out: Path
    steps: int
    best_psnr: float | None
    last_psnr: float | None
    precision: str
    sec_per_step: float
    data_wait_share: float


class Trainer:
    """Builds student, teacher, method and data from a config, then runs and checkpoints."""

    def __init__(self, cfg: DistillConfig, *, resume: bool = False, progress: bool = True) -> None:
        self.cfg, self.progress = cfg.validate(), progress
        self.out = Path(cfg.out)
        self.device = pick_device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.prec = resolve_precision(cfg.precision, self.device)
        torch.manual_seed(cfg.seed)
        arch, hp = parse_arch_string(cfg.student, scale=cfg.scale)
        self.student = build_model(arch, hp).to(self.device)
        teacher = None
        if METHODS.get(cfg.method).needs_teacher:
            tmodel, tspec = resolve_model(cfg.teacher, scale=cfg.scale)
            teacher = FrozenTeacher(tmodel.to(self.device))
        self.method = METHODS.get(cfg.method)(student=self.student, teacher=teacher, args=dict(cfg.method_args)).to(self.device)
        if self.prec.channels_last:
            self.method.to(memory_format=torch.channels_last)
        self.params = list(self.student.parameters()) + self.method.helper_parameters()
        self.opt = torch.optim.Adam(self.params, lr=cfg.lr, betas=(0.9, 0.99))
        self.ema = EMA(self.student, decay=cfg.ema_decay)
        self.step, self.best_psnr, self.last_psnr = 0, None, None
        self.runlog = RunLog(self.out / "log.jsonl")
        data_state = None
        if resume:
            data_state = self._load_resume()
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            self.runlog.path.unlink(missing_ok=True)
        save_config(cfg, self.out / "config.yaml")
        self.data = HRFolderDataset(cfg.data, scale=cfg.scale, patch=cfg.patch, progress=progress)
        self.loader = Prefetcher(self.data, batch=cfg.batch, seed=cfg.seed, state=data_state)
        log.info("precision %s (%s), device %s, %d training images", self.prec.name, self.prec.reason, self.device, len(self.data))

    def lr_at(self, step: int) -> float:
        """Multistep schedule: lr * gamma^(milestones passed), milestones as fractions of the run."""
        passed = sum(step >= int(m * self.cfg.steps) for m in self.cfg.lr_milestones)
        return self.cfg.lr * self.cfg.lr_gamma**passed

    def train_step(self, lr_img: torch.Tensor, hr_img: torch.Tensor) -> dict[str, float]:
        mf = torch.channels_last if self.prec.channels_last else torch.contiguous_format
        batch = {"lr": lr_img.to(self.device).contiguous(memory_format=mf), "hr": hr_img.to(self.device)}
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.method.train()
        with self.prec.autocast(self.device):
            parts = self.method(batch)
        loss = parts["loss"]
        if not torch.isfinite(loss):
            raise TrainingError(f"loss is {loss.item()} at step {self.step + 1}; stopped, the last good checkpoint is kept "
                                f"in {self.out / RESUME_FILE}")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.opt.step()
        self.ema.update(self.student)
        self.step += 1
        return {k: float(v.detach()) for k, v in parts.items()}

    def validate(self) -> float | None:
        if not self.cfg.val:
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
                "precision": self.prec.name, "srkd_version": __version__}

    def save_checkpoint(self) -> None:
        state = {
            "step": self.step, "student": self.student.state_dict(), "ema": self.ema.state_dict(),
            "method": self.method.helper_state(), "optimizer": self.opt.state_dict(),
            "best_psnr": self.best_psnr if self.best_psnr is not None else float("nan"),
            "rng": {"torch": torch.get_rng_state(), "data": self.loader.position(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []},
        }
        save_model(self.out / "student_last.safetensors", self.ema.model, provenance=self.provenance())
        atomic_save(self.out / RESUME_FILE, lambda tmp: torch.save(state, tmp))
        self.runlog.plot(self.out / "curves.png")

    def _load_resume(self) -> str:
        path = self.out / RESUME_FILE
        if not path.is_file():
            raise TrainingError(f"{path}: no resume checkpoint in this run folder")
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.student.load_state_dict(state["student"])
        self.ema.load_state_dict(state["ema"])
        missing, unexpected = self.method.load_state_dict(state["method"], strict=False)
        helper_missing = [k for k in missing if not k.startswith(("student.", "teacher."))]
        if helper_missing or unexpected:
            raise TrainingError(f"{path}: the method's saved state does not fit this config "
                                f"(missing {helper_missing[:3]}, unexpected {unexpected[:3]})")
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        best = float(state["best_psnr"])
        self.best_psnr = None if math.isnan(best) else best
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.runlog.truncate_after(self.step)
        log.info("resumed %s at step %d", self.out, self.step)
        return state["rng"]["data"]

    def run(self, *, until: int | None = None) -> TrainResult:
        """Train to ``cfg.steps`` (or stop early after step ``until``, as an interrupted run would)."""
        cfg = self.cfg
        stop = min(cfg.steps, until) if until else cfg.steps
        start_step, t0 = self.step, time.perf_counter()
        bar = tqdm(total=cfg.steps, initial=self.step, desc="distill", disable=not self.progress, dynamic_ncols=True)
        acc: dict[str, float] = {}
        try:
            while self.step < stop:
                lr_img, hr_img = self.loader.next()
                parts = self.train_step(lr_img, hr_img)
                for k, v in parts.items():
                    acc[k] = acc.get(k, 0.0) + v
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    n = cfg.log_every if self.step % cfg.log_every == 0 else self.step % cfg.log_every
                    rec = {"step": self.step, **{k: v / n for k, v in acc.items()}, "lr": self.lr_at(self.step - 1)}
                    elapsed = time.perf_counter() - t0
                    rec["sec_per_step"] = elapsed / (self.step - start_step)
                    rec["data_wait_share"] = self.loader.wait_s / elapsed
                    self.runlog.write(rec)
                    bar.set_postfix(loss=f"{rec['loss']:.4f}")
                    acc = {}
                if self.step % cfg.val_every == 0 or self.step == cfg.steps:
                    psnr = self.validate()
                    if psnr is not None:
                        bar.set_postfix(loss=bar.postfix, val=f"{psnr:.2f}")
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                    self.save_checkpoint()
        finally:
            bar.close()
            self.loader.close()
        if not cfg.val:  # nothing to pick "best" by: best is the last
            save_model(self.out / "student_best.safetensors", self.ema.model, provenance=self.provenance())
        elapsed = time.perf_counter() - t0
        done = max(self.step - start_step, 1)
        result = TrainResult(self.out, self.step, self.best_psnr, self.last_psnr, self.prec.name,
                             elapsed / done, self.loader.wait_s / max(elapsed, 1e-9))
        summary = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(result).items()}
        summary["precision_reason"] = self.prec.reason
        atomic_save(self.out / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))
        return result
