package media

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// ParseSource opens the source a spec string names, for a stream of the given
// kind ("" accepts either kind):
//
//	tone              a 440 Hz PCMU test tone (audio)
//	tone:FREQ         a PCMU test tone of FREQ Hz, e.g. tone:1000 (audio)
//	rtp://HOST:PORT   RTP arriving on a loopback UDP port (ListenRTP); the
//	                  codec is ?codec=NAME, by default opus for audio and
//	                  VP8 for video; ?from=IP:PORT accepts only that
//	                  sender (by default the first one to send)
//	PATH.ogg, .opus   an Ogg/Opus file (audio)
//	PATH.ivf          an IVF file of VP8, VP9 or AV1 (video)
//	loop:PATH         a file that restarts at its end
func ParseSource(spec string, kind Kind) (Source, error) {
	src, err := parseSource(spec, kind)
	if err != nil {
		return nil, fmt.Errorf("media: source %q: %w", spec, err)
	}
	return src, nil
}

func parseSource(spec string, kind Kind) (Source, error) {
	if spec == "tone" || strings.HasPrefix(spec, "tone:") {
		if err := checkKind(Audio, kind); err != nil {
			return nil, err
		}
		freq := float64(DefaultToneHz)
		if f, ok := strings.CutPrefix(spec, "tone:"); ok {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBadSpec, err)
			}
			freq = v
		}
		return NewTone(freq, ToneOptions{})
	}
	if strings.HasPrefix(spec, "rtp://") {
		addr, c, o, err := parseRTPURL(spec, kind)
		if err != nil {
			return nil, err
		}
		return ListenUDP(addr, c, o)
	}
	path, loop := strings.CutPrefix(spec, "loop:")
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ogg", ".opus":
		if err := checkKind(Audio, kind); err != nil {
			return nil, err
		}
		return OpenOgg(path, loop)
	case ".ivf":
		if err := checkKind(Video, kind); err != nil {
			return nil, err
		}
		return OpenIVF(path, loop)
	}
	return nil, fmt.Errorf("%w: want tone, tone:FREQ, rtp://HOST:PORT, or a .ogg/.opus/.ivf file", ErrBadSpec)
}

// parseRTPURL parses rtp://HOST:PORT[?codec=NAME][&from=IP:PORT].
func parseRTPURL(spec string, kind Kind) (string, Codec, UDPOptions, error) {
	var o UDPOptions
	u, err := url.Parse(spec)
	if err != nil {
		return "", Codec{}, o, fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	if u.Port() == "" || u.Path != "" || u.User != nil || u.Fragment != "" {
		return "", Codec{}, o, fmt.Errorf("%w: want rtp://HOST:PORT", ErrBadSpec)
	}
	q := u.Query()
	for k, v := range q {
		if (k != "codec" && k != "from") || len(v) != 1 {
			return "", Codec{}, o, fmt.Errorf("%w: unknown or repeated parameter %q", ErrBadSpec, k)
		}
	}
	c := Opus
	if kind == Video {
		c = VP8
	}
	if name := q.Get("codec"); name != "" {
		if c, err = CodecByName(name); err != nil {
			return "", Codec{}, o, err
		}
	}
	if err := checkKind(c.Kind, kind); err != nil {
		return "", Codec{}, o, err
	}
	if from := q.Get("from"); q.Has("from") {
		if o.From, err = netip.ParseAddrPort(from); err != nil || o.From.Port() == 0 {
			return "", Codec{}, o, fmt.Errorf("%w: from=%q is not IP:PORT", ErrBadSpec, from)
		}
	}
	return net.JoinHostPort(u.Hostname(), u.Port()), c, o, nil
}

// checkKind fails if a stream of kind have is used where want is asked for.
func checkKind(have, want Kind) error {
	if want != "" && want != have {
		return fmt.Errorf("%w: %s source for a %s stream", ErrKindMismatch, have, want)
	}
	return nil
}

// ParseSink opens the sink a spec string names, for a received stream of
// codec c:
//
//	"" or "count"     a Counter only
//	rtp://HOST:PORT   forward to a loopback UDP port (NewUDPSink)
//	PATH.ogg, .opus   a new Ogg/Opus file (opus only); an existing file
//	                  of that name is not replaced (ErrExists)
//	PATH.ivf          a new IVF file (VP8, VP9, AV1); likewise
//	PATH.wav          a new WAV file, 16-bit PCM (PCMU only); likewise
//	                  (a stream the named file cannot hold goes to the
//	                  same name with the extension that holds it)
//	DIR               a new file in directory DIR (created if missing)
//	                  named by kind and codec: audio-opus.ogg,
//	                  audio-pcmu.wav, video-vp8.ivf, video-vp9.ivf or
//	                  video-av1.ivf, or when that name is taken
//	                  audio-opus-2.ogg, -3, ...
//
// Recording files are created mode 0600 and never through a symbolic link;
// see createRecording.
func ParseSink(spec string, c Codec) (Sink, error) {
	s, err := parseSink(spec, c)
	if err != nil {
		return nil, fmt.Errorf("media: sink %q: %w", spec, err)
	}
	return s, nil
}

func parseSink(spec string, c Codec) (Sink, error) {
	switch {
	case spec == "" || spec == "count":
		return NewCounter(c), nil
	case strings.HasPrefix(spec, "rtp://"):
		addr, err := sinkRTPAddr(spec)
		if err != nil {
			return nil, err
		}
		return NewUDPSink(addr)
	case isRecordFile(spec):
		// The other side chooses the codec: a stream the named file
		// cannot hold goes to the same name with the extension that
		// holds it (call.ogg asked, PCMU received: call.wav).
		name, err := sinkFileName(c)
		if err != nil {
			return nil, err
		}
		want := filepath.Ext(name)
		if ext := strings.ToLower(filepath.Ext(spec)); ext != want && !(ext == ".opus" && want == ".ogg") {
			spec = strings.TrimSuffix(spec, filepath.Ext(spec)) + want
		}
		switch want {
		case ".ivf":
			return NewIVFSink(spec, c)
		case ".wav":
			return NewWAVSink(spec)
		}
		return NewOggSink(spec)
	}
	name, err := sinkFileName(c)
	if err != nil {
		return nil, err
	}
	f, err := createRecordingIn(spec, name)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Kind == Video:
		return newIVFFileSink(f, c)
	case c.Name == PCMU.Name:
		return newWAVFileSink(f)
	}
	return newOggFileSink(f)
}

// sinkRTPAddr parses the rtp://HOST:PORT of a forwarding sink.
func sinkRTPAddr(spec string) (string, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	if u.Port() == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("%w: want rtp://HOST:PORT", ErrBadSpec)
	}
	return net.JoinHostPort(u.Hostname(), u.Port()), nil
}

// sinkFileName names the file a directory sink writes for codec c.
func sinkFileName(c Codec) (string, error) {
	ext := ".ivf"
	switch {
	case c.Name == Opus.Name:
		ext = ".ogg"
	case c.Name == PCMU.Name:
		ext = ".wav"
	case c.Kind != Video:
		return "", fmt.Errorf("%w: no file format for %s", ErrUnsupportedCodec, c.Name)
	}
	return string(c.Kind) + "-" + strings.ToLower(c.Name) + ext, nil
}
