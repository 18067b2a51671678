"""The label space shared by every stage (pure Python, no Django).

Category order is FER2013's everywhere: model outputs, manifests, keys 1-7.
"""

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
EMOTION_CHOICES = [(name, name) for name in EMOTIONS]
VA_MIN, VA_MAX = -1.0, 1.0
