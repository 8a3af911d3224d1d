package deploy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// world is a tiny simulation of the service around the machine: green
// becomes ready one step after it is asked to run, blue and green tasks
// are gone one step after they are asked to go.
type world struct {
	now          time.Time
	greenRunning bool
	greenLeft    int
	blueLeft     int
	failGreen    bool
	// othersLeft are tasks of a superseded revision; blueUnready keeps
	// blue from being ready (it is replacing tasks).
	othersLeft  int
	blueUnready bool
	// blue records Decision.Blue by stage (false if it ever was).
	blue    map[Stage]bool
	replies map[string]Reply
	// trace of (stage, prod, test) each time the stage or weights change.
	trace []string
	calls []string
}

func newWorld() *world { return &world{now: t0, blueLeft: 3, blue: map[Stage]bool{}} }

// drive runs Step until the deployment is done or steps run out;
// poke is called before each step and may change p (a user's request)
// or the world. A restart (JSON round trip of p) happens before every
// step when restart is set.
func drive(t *testing.T, cfg Config, w *world, restart bool, poke func(p *Progress, w *world)) Progress {
	t.Helper()
	p := Start(w.now)
	last := ""
	for i := 0; i < 500; i++ {
		if poke != nil {
			poke(&p, w)
		}
		if restart {
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var q Progress
			if err := json.Unmarshal(b, &q); err != nil {
				t.Fatal(err)
			}
			p = q
		}
		o := Observed{Now: w.now, GreenReady: w.greenRunning && !w.failGreen, GreenFailed: w.failGreen, BlueLeft: w.blueLeft,
			GreenLeft: w.greenLeft, Replies: w.replies, OthersLeft: w.othersLeft, BlueReady: !w.blueUnready && w.blueLeft > 0}
		w.replies = nil
		d := Step(cfg, p, o)
		p = d.Progress
		if kept, seen := w.blue[p.Stage]; !seen || kept {
			w.blue[p.Stage] = d.Blue
		}
		if d.StopOthers {
			if w.blueUnready {
				t.Fatalf("superseded tasks stopped at %s while blue is not ready", p.Stage)
			}
			w.othersLeft = 0
		}
		for _, c := range d.Call {
			w.calls = append(w.calls, c.ID)
		}
		if s := fmt.Sprintf("%s prod=%s test=%s", p.Stage, trimFloat(p.ProdWeight), trimFloat(p.TestWeight)); s != last {
			w.trace = append(w.trace, s)
			last = s
		}
		// the world follows the decision
		if d.Green {
			if w.greenLeft == 0 {
				w.greenLeft = 3
			} else {
				w.greenRunning = true
			}
		} else if w.greenLeft > 0 {
			w.greenLeft, w.greenRunning = 0, false
		}
		if d.StopBlue {
			w.blueLeft = 0
		}
		if !p.Active() {
			return p
		}
		if !d.Recheck.IsZero() && d.Recheck.After(w.now) {
			w.now = d.Recheck
		} else {
			w.now = w.now.Add(time.Second)
		}
	}
	t.Fatalf("deployment never finished; at %s", p.Stage)
	return p
}

func TestSteps(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []float64
	}{
		{"blue/green", Config{Strategy: BlueGreen}, []float64{100}},
		{"linear 25", Config{Strategy: Linear, StepPercent: 25}, []float64{25, 50, 75, 100}},
		{"linear 30", Config{Strategy: Linear, StepPercent: 30}, []float64{30, 60, 90, 100}},
		{"linear default 10", Config{Strategy: Linear}, []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}},
		{"linear 3.3", Config{Strategy: Linear, StepPercent: 33.3}, []float64{33.3, 66.6, 99.9, 100}},
		{"canary 10", Config{Strategy: Canary, CanaryPercent: 10}, []float64{10, 100}},
		{"canary default 5", Config{Strategy: Canary}, []float64{5, 100}},
		{"canary 100", Config{Strategy: Canary, CanaryPercent: 100}, []float64{100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Steps(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Steps() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestForwardWeights(t *testing.T) {
	tests := []struct {
		pct         float64
		blue, green int32
	}{{0, 1, 0}, {100, 0, 1}, {10, 900, 100}, {25, 750, 250}, {0.1, 999, 1}, {99.9, 1, 999}}
	for _, tt := range tests {
		if b, g := ForwardWeights(tt.pct); b != tt.blue || g != tt.green {
			t.Errorf("ForwardWeights(%v) = %d/%d, want %d/%d", tt.pct, b, g, tt.blue, tt.green)
		}
	}
}

func TestStrategies(t *testing.T) {
	min := time.Minute
	tests := []struct {
		name  string
		cfg   Config
		trace []string
		took  time.Duration
	}{
		{"blue/green with test listener", Config{Strategy: BlueGreen, Bake: 5 * min, TestTraffic: true}, []string{
			"SCALE_UP prod=0 test=0",
			"BAKE_TIME prod=100 test=100",
			"CLEAN_UP prod=100 test=100",
			"DONE prod=100 test=100",
		}, 5*min + 3*time.Second},
		{"linear 4×25%", Config{Strategy: Linear, StepPercent: 25, StepBake: 2 * min, Bake: min}, []string{
			"SCALE_UP prod=0 test=0",
			"PRODUCTION_TRAFFIC_SHIFT prod=25 test=0",
			"PRODUCTION_TRAFFIC_SHIFT prod=50 test=0",
			"PRODUCTION_TRAFFIC_SHIFT prod=75 test=0",
			"BAKE_TIME prod=100 test=0",
			"CLEAN_UP prod=100 test=100",
			"DONE prod=100 test=100",
		}, 3*2*min + min + 3*time.Second},
		{"canary 10%", Config{Strategy: Canary, CanaryPercent: 10, CanaryBake: 3 * min}, []string{
			"SCALE_UP prod=0 test=0",
			"PRODUCTION_TRAFFIC_SHIFT prod=10 test=0",
			"CLEAN_UP prod=100 test=100",
			"DONE prod=100 test=100",
		}, 3*min + 3*time.Second},
	}
	for _, tt := range tests {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s restart=%v", tt.name, restart), func(t *testing.T) {
				w := newWorld()
				p := drive(t, tt.cfg, w, restart, nil)
				if p.Result != ResultSuccessful {
					t.Fatalf("result %q", p.Result)
				}
				if d := Step(tt.cfg, p, Observed{Now: w.now}); !d.Green || !d.StopBlue {
					t.Errorf("a finished deployment keeps green (%v) and not blue (%v)", d.Green, d.StopBlue)
				}
				if !reflect.DeepEqual(w.trace, tt.trace) {
					t.Errorf("trace:\n%s\nwant:\n%s", strings.Join(w.trace, "\n"), strings.Join(tt.trace, "\n"))
				}
				if took := w.now.Sub(t0); took != tt.took {
					t.Errorf("took %v, want %v", took, tt.took)
				}
			})
		}
	}
}

// Blue is kept at its count (its tasks that stop are replaced) in every
// stage before CLEAN_UP, a rollback included, and no longer from
// CLEAN_UP on.
func TestBlueKeptUntilCleanUp(t *testing.T) {
	cfg := Config{Strategy: Linear, StepPercent: 50, StepBake: time.Minute, Bake: time.Minute, TestTraffic: true}
	w := newWorld()
	drive(t, cfg, w, false, nil)
	for _, s := range []Stage{StageScaleUp, StageProdShift, StageBake} {
		if !w.blue[s] {
			t.Errorf("blue not kept at %s: %v", s, w.blue)
		}
	}
	for _, s := range []Stage{StageCleanUp, StageDone} {
		if kept, seen := w.blue[s]; !seen || kept {
			t.Errorf("blue kept (or never seen) at %s: %v", s, w.blue)
		}
	}
	w = newWorld()
	drive(t, cfg, w, false, func(p *Progress, w *world) {
		if p.Stage == StageProdShift {
			p.StopRequest = ActionRollback
		}
	})
	if !w.blue[StageRollback] {
		t.Errorf("blue not kept during the rollback: %v", w.blue)
	}
	if d := Step(cfg, Progress{Stage: StageDone, Result: ResultRolledBack}, Observed{Now: t0}); d.Blue || d.Green || d.StopBlue {
		t.Errorf("a rolled back deployment leaves blue to the service: %+v", d)
	}
}

// A deployment that superseded another starts at RECONCILE_SERVICE with
// the superseded revision's tasks still there: they go once blue is
// ready, and green starts only once they are gone.
func TestReconcileWaitsForSupersededRevisions(t *testing.T) {
	cfg := Config{Strategy: Canary, CanaryPercent: 10, CanaryBake: time.Minute}
	for _, restart := range []bool{false, true} {
		w := newWorld()
		w.othersLeft, w.blueUnready = 3, true
		steps := 0
		p := drive(t, cfg, w, restart, func(p *Progress, w *world) {
			steps++
			if steps < 5 {
				if p.Stage != StageReconcile || w.greenLeft != 0 || w.othersLeft != 3 {
					t.Fatalf("step %d: at %s, green %d, others %d before blue is ready", steps, p.Stage, w.greenLeft, w.othersLeft)
				}
				return
			}
			w.blueUnready = false // blue has replaced its tasks
			if w.othersLeft > 0 && (p.Stage != StageReconcile || w.greenLeft != 0) {
				t.Fatalf("at %s with green %d while %d superseded tasks are left", p.Stage, w.greenLeft, w.othersLeft)
			}
		})
		if p.Result != ResultSuccessful || w.othersLeft != 0 {
			t.Fatalf("restart=%v: result %q, others left %d; trace %v", restart, p.Result, w.othersLeft, w.trace)
		}
	}
}

func TestSupersede(t *testing.T) {
	tests := []struct {
		name string
		p    Progress
		want bool
	}{
		{"before any production traffic", Progress{Stage: StagePostTestShift, TestWeight: 100}, false},
		{"canary", Progress{Stage: StageProdShift, Step: 1, ProdWeight: 10}, false},
		{"linear half way", Progress{Stage: StagePreProdShift, Step: 2, ProdWeight: 50}, false},
		{"all production traffic on green", Progress{Stage: StagePostProdShift, Step: 1, ProdWeight: 100}, true},
		{"bake", Progress{Stage: StageBake, Step: 1, ProdWeight: 100, TestWeight: 100}, true},
		{"clean up", Progress{Stage: StageCleanUp, Step: 1, ProdWeight: 100, TestWeight: 100}, true},
		{"rolling back", Progress{Stage: StageRollback}, false},
	}
	for _, tt := range tests {
		if got := Supersede(tt.p); got != tt.want {
			t.Errorf("%s: Supersede = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRollbackFromEveryStage stops (ROLLBACK and ABORT) or fails green at
// each stage before CLEAN_UP: traffic is back on blue, green scaled in.
func TestRollbackFromEveryStage(t *testing.T) {
	cfg := Config{Strategy: Linear, StepPercent: 50, StepBake: time.Minute, Bake: time.Minute, TestTraffic: true,
		Hooks: []Hook{{Pause: true, Stages: []Stage{StagePostScaleUp}}}}
	stages := []Stage{StageReconcile, StageScaleUp, StagePostScaleUp, StageProdShift, StageBake}
	for _, at := range stages {
		for _, how := range []string{ActionRollback, "ABORT", "circuit breaker"} {
			t.Run(string(at)+" "+how, func(t *testing.T) {
				w := newWorld()
				fired := false
				p := drive(t, cfg, w, true, func(p *Progress, w *world) {
					if p.Stage == StagePostScaleUp && len(p.Hooks) > 0 && at != StagePostScaleUp {
						p.Hooks[0].Answer = ActionContinue
					}
					if p.Stage != at || fired {
						return
					}
					fired = true
					if how == "circuit breaker" {
						w.failGreen = true
					} else {
						p.StopRequest = how
					}
				})
				want := ResultRolledBack
				if how == "ABORT" {
					want = ResultStopped
				}
				if p.Result != want || p.ProdWeight != 0 || p.TestWeight != 0 {
					t.Fatalf("result %q prod %v test %v; trace %v", p.Result, p.ProdWeight, p.TestWeight, w.trace)
				}
				if w.greenLeft != 0 || w.blueLeft != 3 {
					t.Errorf("green left %d, blue left %d", w.greenLeft, w.blueLeft)
				}
				if p.RollbackReason == "" {
					t.Error("no rollback reason")
				}
			})
		}
	}
}

func TestStopDuringCleanUpIsIgnored(t *testing.T) {
	w := newWorld()
	w.blueLeft = 3
	p := Progress{Stage: StageCleanUp, StageAt: t0, ProdWeight: 100, TestWeight: 100, StopRequest: ActionRollback}
	d := Step(Config{Strategy: BlueGreen}, p, Observed{Now: t0, GreenReady: true, BlueLeft: 3, GreenLeft: 3})
	if d.Progress.Stage != StageCleanUp || d.Progress.StopRequest != "" || !d.StopBlue {
		t.Fatalf("%+v", d)
	}
}

func TestPauseHook(t *testing.T) {
	for _, stage := range []Stage{StageReconcile, StagePreScaleUp, StagePostScaleUp, StagePostTestShift, StagePreProdShift, StagePostProdShift} {
		for _, answer := range []string{ActionContinue, ActionRollback} {
			t.Run(string(stage)+" "+answer, func(t *testing.T) {
				cfg := Config{Strategy: BlueGreen, Hooks: []Hook{{Pause: true, Stages: []Stage{stage}}}}
				w := newWorld()
				waited := 0
				p := drive(t, cfg, w, true, func(p *Progress, w *world) {
					if p.Stage == stage && len(p.Hooks) == 1 && p.Hooks[0].Status == HookAwaiting {
						waited++
						if stage == StagePostTestShift && (p.TestWeight != 0 || p.ProdWeight != 0) {
							t.Errorf("paused with test %v prod %v", p.TestWeight, p.ProdWeight)
						}
						p.Hooks[0].Answer = answer
					}
				})
				if waited != 1 {
					t.Fatalf("waited %d", waited)
				}
				want := ResultSuccessful
				if answer == ActionRollback {
					want = ResultRolledBack
				}
				if p.Result != want {
					t.Fatalf("result %q; %v", p.Result, w.trace)
				}
				if got := p.Finished[0].Status; answer == ActionContinue && got != HookSucceeded || answer == ActionRollback && got != HookFailed {
					t.Errorf("hook status %s", got)
				}
			})
		}
	}
}

func TestPauseNotAtShiftStages(t *testing.T) {
	cfg := Config{Strategy: BlueGreen, Hooks: []Hook{{Pause: true, Stages: []Stage{StageTestShift, StageProdShift}}}}
	p := drive(t, cfg, newWorld(), false, nil)
	if p.Result != ResultSuccessful || len(p.Finished) != 0 {
		t.Fatalf("%+v", p)
	}
}

func TestHookTimeout(t *testing.T) {
	for _, action := range []string{"", ActionContinue, ActionRollback} {
		t.Run("action "+action, func(t *testing.T) {
			cfg := Config{Strategy: Canary, CanaryPercent: 10, Hooks: []Hook{{Pause: true, Stages: []Stage{StagePostScaleUp},
				Timeout: 7 * time.Minute, TimeoutAction: action}}}
			w := newWorld()
			p := drive(t, cfg, w, true, nil)
			want := ResultRolledBack
			if action == ActionContinue {
				want = ResultSuccessful
			}
			if p.Result != want || p.Finished[0].Status != HookTimedOut {
				t.Fatalf("result %q, hook %+v", p.Result, p.Finished)
			}
			if w.now.Sub(t0) < 7*time.Minute {
				t.Errorf("ended after %v", w.now.Sub(t0))
			}
		})
	}
}

func TestURLHook(t *testing.T) {
	tests := []struct {
		name    string
		replies []Reply
		want    string
		calls   int
	}{
		{"in progress twice then succeeded", []Reply{{Status: HookInProgress, CallBackDelay: 5 * time.Second}, {Status: HookInProgress}, {Status: HookSucceeded}}, ResultSuccessful, 3},
		{"failed", []Reply{{Status: HookFailed}}, ResultRolledBack, 1},
		{"in progress then failed", []Reply{{Status: HookInProgress}, {Status: HookFailed}}, ResultRolledBack, 2},
		{"never answers: called again, times out", nil, ResultRolledBack, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Strategy: Linear, StepPercent: 50, Hooks: []Hook{{URL: "http://hook", Stages: []Stage{StagePostTestShift}, Timeout: 10 * time.Minute}}}
			w := newWorld()
			var callTimes []time.Time
			p := drive(t, cfg, w, true, func(p *Progress, w *world) {
				if len(w.calls) > len(callTimes) {
					callTimes = append(callTimes, w.now)
					if n := len(callTimes); n <= len(tt.replies) {
						w.replies = map[string]Reply{w.calls[n-1]: tt.replies[n-1]}
					}
				}
			})
			if p.Result != tt.want || len(w.calls) != tt.calls {
				t.Fatalf("result %q after %d calls, want %q after %d", p.Result, len(w.calls), tt.want, tt.calls)
			}
			if len(tt.replies) > 1 && tt.replies[0].CallBackDelay > 0 {
				if gap := callTimes[1].Sub(callTimes[0]); gap != CallTimeout+5*time.Second {
					t.Errorf("second call %v after the first", gap)
				}
				if gap := callTimes[2].Sub(callTimes[1]); gap != CallTimeout+DefaultCallBackDelay {
					t.Errorf("third call %v after the second", gap)
				}
			}
		})
	}
}

// TestHookAtEveryProductionStep: PRE_PRODUCTION_TRAFFIC_SHIFT and
// PRODUCTION_TRAFFIC_SHIFT hooks run before and at each step.
func TestHookAtEveryProductionStep(t *testing.T) {
	cfg := Config{Strategy: Linear, StepPercent: 25, Hooks: []Hook{{URL: "http://h", Stages: []Stage{StagePreProdShift, StageProdShift}}}}
	w := newWorld()
	p := drive(t, cfg, w, false, func(p *Progress, w *world) {
		for _, r := range p.Hooks {
			if r.Status == HookInProgress && r.Calls > 0 {
				w.replies = map[string]Reply{r.ID: {Status: HookSucceeded}}
			}
		}
	})
	if p.Result != ResultSuccessful || len(w.calls) != 8 {
		t.Fatalf("result %q calls %v", p.Result, w.calls)
	}
	if !slices.Contains(w.calls, "hook-0-production-traffic-shift-4") || !slices.Contains(w.calls, "hook-0-pre-production-traffic-shift-0") {
		t.Errorf("calls %v", w.calls)
	}
}

// TestDeterministic: the same inputs give the same decision.
func TestDeterministic(t *testing.T) {
	cfg := Config{Strategy: Linear, StepPercent: 25, Hooks: []Hook{{URL: "http://h", Stages: []Stage{StagePostScaleUp}}}}
	p := Start(t0)
	o := Observed{Now: t0.Add(time.Minute), GreenReady: true, BlueLeft: 3, GreenLeft: 3}
	a, b := Step(cfg, p, o), Step(cfg, p, o)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("not deterministic")
	}
}
