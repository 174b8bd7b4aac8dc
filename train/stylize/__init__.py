"""`train stylize`: images and videos through a trained fast-style network.

- `run`: the command: image or video, streaming, OUT.json.
- `frames`: uint8 frames through the network on the device, tiling, colour preservation.
- `warp`: the temporal warping error of a video (OpenCV optical flow, occlusions masked).
"""
