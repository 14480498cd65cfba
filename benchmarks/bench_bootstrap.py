import time

import numpy as np
from scipy import stats

from personadrop.evaluate.metrics import Bootstrap

rng = np.random.default_rng(0)
x = rng.random(300)
y = rng.random(300) + 0.1
b = Bootstrap(0, 2000)
t = time.perf_counter()
for _ in range(200):
    b.mean(x)
t1 = time.perf_counter() - t
t = time.perf_counter()
for _ in range(200):
    stats.bootstrap(
        (x,),
        np.mean,
        n_resamples=2000,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng([0, 300]),
        axis=-1,
    )
t2 = time.perf_counter() - t
t = time.perf_counter()
for _ in range(200):
    b.ratio(x, y)
t3 = time.perf_counter() - t


def ratio(a, b, axis=-1):
    return a.mean(axis=axis) / b.mean(axis=axis)


t = time.perf_counter()
for _ in range(200):
    stats.bootstrap(
        (x, y),
        ratio,
        paired=True,
        n_resamples=2000,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng([0, 300]),
    )
t4 = time.perf_counter() - t
print(
    f"mean: own {t1 / 200 * 1000:.2f} ms scipy {t2 / 200 * 1000:.2f} ms; ratio: own {t3 / 200 * 1000:.2f} ms "
    f"scipy {t4 / 200 * 1000:.2f} ms"
)
