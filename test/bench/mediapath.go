package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
)

// benchResult is one line of `go test -bench` output: the metrics by unit.
type benchResult map[string]float64

// parseBench reads `go test -bench` output into results by benchmark name
// (the -GOMAXPROCS suffix removed), and the "cpu:" line when present.
// Lines that are not results are skipped.
func parseBench(out []byte) (map[string]benchResult, string) {
	res := map[string]benchResult{}
	cpu := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
			continue // not an iteration count
		}
		r := benchResult{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				r = nil
				break
			}
			r[f[i+1]] = v
		}
		if r != nil {
			res[trimProcs(f[0])] = r
		}
	}
	return res, cpu
}

// trimProcs removes the -GOMAXPROCS suffix go test appends to a name.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// mediaPathBench runs node/calltransport's media path and raw SRTP
// benchmarks (each for benchtime) and prints their packet rates side by
// side.
func mediaPathBench(ctx context.Context, w io.Writer, benchtime string) error {
	args := []string{"test", "-run=NONE", "-bench=MediaPath|RawSRTP", "-benchtime=" + benchtime, "./node/calltransport"}
	// proc.Run gives it a process group of its own, so that on Ctrl-C the
	// test binary under go test is stopped too.
	r, err := proc.Run(ctx, proc.Spec{Path: "go", Args: args, Dir: daemon.ModuleRoot()})
	out := []byte(r.Stdout)
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	res, cpu := parseBench(out)
	var sizes []string
	for name := range res {
		if s, ok := strings.CutPrefix(name, "BenchmarkMediaPath/"); ok {
			sizes = append(sizes, s)
		}
	}
	slices.SortFunc(sizes, func(a, b string) int { return sizeOf(a) - sizeOf(b) })
	if len(sizes) == 0 {
		return fmt.Errorf("%w: no BenchmarkMediaPath results in:\n%s", ErrBenchOutput, out)
	}
	fmt.Fprintf(w, "`go %s` (%s)\n\n", strings.Join(args, " "), cpu)
	fmt.Fprintf(w, "| packet | media path | raw SRTP | ratio | lost | goal ≥ %.1f |\n|---|---|---|---|---|---|\n", goalMediaRatio)
	for _, s := range sizes {
		mp, raw := res["BenchmarkMediaPath/"+s], res["BenchmarkRawSRTP/"+s]
		mpps, ok1 := mp["pkts/s"]
		rawpps, ok2 := raw["pkts/s"]
		if !ok1 || !ok2 || rawpps == 0 {
			return fmt.Errorf("%w: pkts/s for %s (media path %v, raw SRTP %v)", ErrBenchOutput, s, mp, raw)
		}
		ratio := mpps / rawpps
		fmt.Fprintf(w, "| %s | %.0f pkts/s | %.0f pkts/s | %.3f | %.0f | %s |\n", s, mpps, rawpps, ratio, mp["lost"], verdict(ratio >= goalMediaRatio))
	}
	return nil
}

// sizeOf is the number in a size label like "160B" (0 when there is none),
// for sorting.
func sizeOf(label string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(label, "B"))
	return n
}
