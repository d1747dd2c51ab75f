"""Classifiers of local appearance, to check what one patch of a synthetic image tells."""
import cv2
import numpy as np


def patch_features(image, window=9):
    """Per pixel, the dominant gradient orientation theta around it, whatever the colours.

    From the colour structure tensor J summed over a window x window neighbourhood:
    (cos 2 theta, sin 2 theta) times the coherence, i.e. ((Jxx - Jyy), 2 Jxy) / (Jxx + Jyy).
    """
    gx, gy = cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.blur(g.sum(-1), (window, window)) for g in (gx * gx, gy * gy, gx * gy))
    return np.stack([jxx - jyy, 2 * jxy], -1) / (jxx + jyy + 1e-6)[..., None]


def histogram_classifier_accuracy(train_x, train_y, test_x, test_y, bins=16):
    """Accuracy of the most frequent training class per cell of a bins**D grid over features.

    With enough data this approaches the best any classifier of these features can do.
    """
    low, high = train_x.min(0), train_x.max(0)

    def cells(x):
        index = np.clip(((x - low) / (high - low + 1e-9) * bins).astype(int), 0, bins - 1)
        return np.ravel_multi_index(index.T, (bins, ) * x.shape[1])

    counts = np.zeros((bins ** train_x.shape[1], train_y.max() + 1))
    np.add.at(counts, (cells(train_x), train_y), 1)
    return (counts.argmax(1)[cells(test_x)] == test_y).mean()
