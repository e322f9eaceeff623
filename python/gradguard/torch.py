"""gradguard.torch - gradguard's guard in a PyTorch training loop (to come).

The plan (issue: the guard where people train):

    guard = gradguard.torch.Guard(model, optimizer, **policy)
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        verdict = guard.step(loss)       # clip / skip / back off / roll back, carried out on PyTorch objects

Guard.step gathers the statistics the library's guard decision core takes
(per-tensor squared gradient norms, max |g|, non-finite counts), calls that
core through ctypes, and carries its verdict out on the model, the
optimizer and its param groups. The decisions themselves are the C core's
(src/guard): none is made in Python, so a PyTorch run and a gradguard run
decide alike. This module waits for that core's public interface.
"""


def __getattr__(name):
    if name == "Guard":
        raise AttributeError("gradguard.torch.Guard is not in this version: it is built on the guard's decision "
                             "core of libgradguard, which does not expose it yet")
    raise AttributeError("module 'gradguard.torch' has no attribute %r" % name)
