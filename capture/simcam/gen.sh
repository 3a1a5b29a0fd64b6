#!/bin/sh
# Regenerates sim.h264, the clip the sim camera loops. Run once and commit the
# result; the build embeds the file and never runs ffmpeg.
#
# 640x480, 30 fps, 6 s of testsrc2 (moving colour bars, a clock and a counter),
# H.264 Constrained Baseline level 3.1 (browsers decode it), no B-frames, an
# IDR exactly every 30 frames, Annex-B byte stream without AUDs.
set -eu
cd "$(dirname "$0")"
ffmpeg -hide_banner -loglevel error -y \
	-f lavfi -i testsrc2=size=640x480:rate=30 -t 6 \
	-an -map_metadata -1 -fflags +bitexact -threads 1 \
	-c:v libx264 -preset medium -profile:v baseline -level:v 3.1 -pix_fmt yuv420p \
	-bf 0 -b:v 300k -maxrate 400k -bufsize 400k \
	-x264-params keyint=30:min-keyint=30:scenecut=0 \
	-bsf:v h264_mp4toannexb -f h264 sim.h264
