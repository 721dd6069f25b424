"""Training past one process: torch.distributed (launched by torchrun) for finetune and distill,
and checkpoints that let a killed training resume.

  compute     [compute] rules that need no torch (rendezvous, divisible batches, precision)
  world       this process's place among the ranks, and the collectives the loop needs
  checkpoint  atomic, fingerprint-tagged training state in the stage's checkpoint folder
  runtime     what a training loop is handed: world, checkpoints, precision, device
  launch      the torchrun command (one machine: --standalone; several: static rendezvous)
  relay       worker rank 0's progress and log lines, carried to the parent over stdout
  dispatch    a stage's training call: in this process, or in N torchrun workers
  worker      the torchrun entry point (python -m mobilekit.scale.worker JOB)
"""
