package config

import "time"

// Recording sets how motion and rings become clips.
type Recording struct {
	// PreRoll is how much video from before the event a clip starts with.
	PreRoll Duration `yaml:"pre_roll"`
	// PostRoll is how long recording goes on after the last event.
	PostRoll Duration `yaml:"post_roll"`
	// MaxClip caps one clip's length; a longer event starts a new clip.
	MaxClip Duration `yaml:"max_clip"`
	// Segment is the target length of one encrypted media segment.
	Segment Duration `yaml:"segment"`
	// Buffer is the size of the pre-roll ring buffer, held in RAM only.
	Buffer ByteSize `yaml:"buffer"`
}

func defaultRecording() Recording {
	return Recording{
		PreRoll:  Duration(5 * time.Second),
		PostRoll: Duration(10 * time.Second),
		MaxClip:  Duration(120 * time.Second),
		Segment:  Duration(4 * time.Second),
		Buffer:   16 * MiB,
	}
}

// Validate reports every problem with the recording section.
func (rec Recording) Validate() error { return rec.problems().err() }

func (rec Recording) problems() problems {
	var p problems
	durRange(&p, "recording.pre_roll", rec.PreRoll, 0, time.Minute)
	durRange(&p, "recording.post_roll", rec.PostRoll, time.Second, 10*time.Minute)
	durRange(&p, "recording.max_clip", rec.MaxClip, 10*time.Second, time.Hour)
	if rec.PreRoll >= 0 && rec.MaxClip >= Duration(10*time.Second) && rec.MaxClip < rec.PreRoll+Duration(time.Second) {
		p.add("recording.max_clip", "%q is shorter than recording.pre_roll plus 1s (valid: %v or more)", rec.MaxClip, rec.PreRoll+Duration(time.Second))
	}
	durRange(&p, "recording.segment", rec.Segment, time.Second, 30*time.Second)
	sizeRange(&p, "recording.buffer", rec.Buffer, MiB, 512*MiB)
	return p
}
