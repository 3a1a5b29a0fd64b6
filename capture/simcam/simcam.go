// Package simcam holds the clip the sim board's camera loops: six seconds of
// ffmpeg's testsrc2 pattern (moving colour bars, a running clock and a frame
// counter), 640x480 at 30 fps, H.264 Constrained Baseline level 3.1 with no
// B-frames so browsers decode it, an IDR exactly every 30 frames, as a raw
// Annex-B byte stream (SPS and PPS before every IDR, no AUDs), about 220 KB.
//
// sim.h264 was generated once with gen.sh and is committed; the build embeds
// it and never runs ffmpeg:
//
//	ffmpeg -hide_banner -loglevel error -y \
//		-f lavfi -i testsrc2=size=640x480:rate=30 -t 6 \
//		-an -map_metadata -1 -fflags +bitexact -threads 1 \
//		-c:v libx264 -preset medium -profile:v baseline -level:v 3.1 -pix_fmt yuv420p \
//		-bf 0 -b:v 300k -maxrate 400k -bufsize 400k \
//		-x264-params keyint=30:min-keyint=30:scenecut=0 \
//		-bsf:v h264_mp4toannexb -f h264 sim.h264
//
// Play it with capture.NewFileSource(simcam.Clip(), simcam.FPS, clk).
package simcam

import _ "embed"

// FPS is the clip's frame rate.
const FPS = 30

// GOP is the number of frames from one IDR to the next.
const GOP = 30

//go:embed sim.h264
var clip []byte

// Clip returns the embedded H.264 Annex-B clip. The slice is shared: callers
// must not modify it.
func Clip() []byte { return clip }
