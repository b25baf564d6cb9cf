"""Run under torchrun by test_distributed.py: a few DDP steps, then each rank dumps what it holds."""
import sys
from pathlib import Path

import torch

from srkd.distill.config import DistillConfig
from srkd.distill.trainer import Trainer


def main(data: str, out: str, steps: int, precision: str = "fp32") -> None:
    cfg = DistillConfig(student="edsr:n_feats=8,n_blocks=2", method="scratch", data=[data], scale=2, steps=steps,
                        batch=2, patch=16, precision=precision, out=f"{out}/run", threads=1, log_every=1,
                        ckpt_every=steps, val_every=1000)
    trainer = Trainer(cfg, progress=False)
    seen = []
    step = trainer.train_step

    def recording(lr, hr):
        seen.append((lr.clone(), hr.clone()))
        return step(lr, hr)

    trainer.train_step = recording
    result = trainer.run()
    student = trainer.student
    torch.save({
        "params": {n: p.detach().clone() for n, p in student.named_parameters()},
        "grads": {n: p.grad.detach().clone() for n, p in student.named_parameters()},
        "batches": seen, "effective_batch": result.effective_batch, "world": result.world_size,
    }, Path(out) / f"rank{trainer.dist.rank}.pt")
    trainer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
