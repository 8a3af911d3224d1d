// Package deploy is the state machine of ECS's native progressive
// deployments: BLUE_GREEN, LINEAR and CANARY (deploymentConfiguration.
// strategy). It is pure: Step takes the deployment's configuration, its
// persisted Progress and what the controller observed (is green ready,
// how many blue and green tasks are left, hook replies, the time) and
// returns the next Progress and what to do: how many green tasks to keep,
// whether blue goes, the production and test traffic weights of green,
// which URL hooks to call, and when to look again. The controller stores
// the Progress with the service, so a restart resumes at its stage.
//
// The stages are ECS's (ServiceDeploymentLifecycleStage and the hook
// stages):
//
//	RECONCILE_SERVICE → PRE_SCALE_UP → SCALE_UP → POST_SCALE_UP →
//	TEST_TRAFFIC_SHIFT → POST_TEST_TRAFFIC_SHIFT →
//	(PRE_PRODUCTION_TRAFFIC_SHIFT → PRODUCTION_TRAFFIC_SHIFT [step bake]) × steps →
//	POST_PRODUCTION_TRAFFIC_SHIFT → BAKE_TIME → CLEAN_UP → done
//
// Each stage does its action when entered (scale green up, move traffic),
// then runs the lifecycle hooks configured for it, then waits for what it
// waits for (green healthy, a bake time, blue gone). A failed hook, a hook
// that timed out with ROLLBACK, the circuit breaker or a stop request
// rolls back from any stage before CLEAN_UP: traffic goes back to blue
// first, then green scales to zero.
package deploy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Strategies, as ECS names them.
const (
	Rolling   = "ROLLING"
	BlueGreen = "BLUE_GREEN"
	Linear    = "LINEAR"
	Canary    = "CANARY"
)

// Progressive says whether a strategy is one this package runs.
func Progressive(strategy string) bool {
	return strategy == BlueGreen || strategy == Linear || strategy == Canary
}

// Stage is a lifecycle stage of a deployment.
type Stage string

// The stages, in order, and the two of a rollback.
const (
	StageReconcile     Stage = "RECONCILE_SERVICE"
	StagePreScaleUp    Stage = "PRE_SCALE_UP"
	StageScaleUp       Stage = "SCALE_UP"
	StagePostScaleUp   Stage = "POST_SCALE_UP"
	StageTestShift     Stage = "TEST_TRAFFIC_SHIFT"
	StagePostTestShift Stage = "POST_TEST_TRAFFIC_SHIFT"
	StagePreProdShift  Stage = "PRE_PRODUCTION_TRAFFIC_SHIFT"
	StageProdShift     Stage = "PRODUCTION_TRAFFIC_SHIFT"
	StagePostProdShift Stage = "POST_PRODUCTION_TRAFFIC_SHIFT"
	StageBake          Stage = "BAKE_TIME"
	StageCleanUp       Stage = "CLEAN_UP"
	StageRollback      Stage = "ROLLBACK" // traffic back to blue, green scales in
	StageDone          Stage = "DONE"
	resultSuccessful         = "SUCCESSFUL"
	resultRolledBack         = "ROLLBACK_SUCCESSFUL"
	resultStopped            = "STOPPED"
)

// Results of a finished deployment (Progress.Result): the service
// deployment statuses ECS reports.
const (
	ResultSuccessful = resultSuccessful
	ResultRolledBack = resultRolledBack
	ResultStopped    = resultStopped
)

// order is the stage sequence (production shift stages repeat per step).
var order = []Stage{StageReconcile, StagePreScaleUp, StageScaleUp, StagePostScaleUp, StageTestShift, StagePostTestShift,
	StagePreProdShift, StageProdShift, StagePostProdShift, StageBake, StageCleanUp, StageDone}

// hookStages are the stages a lifecycle hook can name.
var hookStages = []Stage{StageReconcile, StagePreScaleUp, StagePostScaleUp, StageTestShift, StagePostTestShift,
	StagePreProdShift, StageProdShift, StagePostProdShift}

// HookStage says whether s is a stage a lifecycle hook may name.
func HookStage(s string) bool { return slices.Contains(hookStages, Stage(s)) }

// Hook actions (timeouts, ContinueServiceDeployment).
const (
	ActionContinue = "CONTINUE"
	ActionRollback = "ROLLBACK"
)

// Hook statuses, as ECS names them.
const (
	HookAwaiting   = "AWAITING_ACTION"
	HookInProgress = "IN_PROGRESS"
	HookSucceeded  = "SUCCEEDED"
	HookFailed     = "FAILED"
	HookTimedOut   = "TIMED_OUT"
)

// Hook is a configured lifecycle hook.
type Hook struct {
	Pause         bool   // PAUSE: waits for ContinueServiceDeployment
	URL           string // otherwise: an http(s) URL called with the hook event
	Stages        []Stage
	Timeout       time.Duration // default 24 h
	TimeoutAction string        // default ROLLBACK
}

// Config is a deployment's configuration, in durations (the caller turns
// ECS's minutes into time).
type Config struct {
	Strategy string
	// Bake is bakeTimeInMinutes: blue and green both run this long after
	// production traffic has moved, before blue goes.
	Bake time.Duration
	// StepPercent and StepBake are LINEAR's; CanaryPercent and
	// CanaryBake CANARY's.
	StepPercent   float64
	StepBake      time.Duration
	CanaryPercent float64
	CanaryBake    time.Duration
	// TestTraffic says the service has a test listener rule.
	TestTraffic bool
	Hooks       []Hook
}

// Default values of ECS's model (LinearConfiguration, CanaryConfiguration,
// DeploymentLifecycleHookTimeoutConfiguration).
const (
	DefaultStepPercent   = 10.0
	DefaultStepBake      = 6 * time.Minute
	DefaultCanaryPercent = 5.0
	DefaultCanaryBake    = 10 * time.Minute
	DefaultHookTimeout   = 1440 * time.Minute
	// DefaultCallBackDelay is how long a URL hook that answered
	// IN_PROGRESS without callBackDelay waits for its next call.
	DefaultCallBackDelay = 30 * time.Second
	// CallTimeout is how long a URL hook call may take before it is made
	// again (its answer never came).
	CallTimeout = time.Minute
)

// Steps returns green's production weight after each production traffic
// shift: BLUE_GREEN 100; LINEAR stepPercent, 2×stepPercent, ... 100;
// CANARY canaryPercent, 100.
func (c Config) Steps() []float64 {
	switch c.Strategy {
	case Linear:
		step := c.StepPercent
		if step <= 0 {
			step = DefaultStepPercent
		}
		var out []float64
		for k := 1; ; k++ {
			w := round1(float64(k) * step)
			if w >= 100 {
				return append(out, 100)
			}
			out = append(out, w)
		}
	case Canary:
		p := c.CanaryPercent
		if p <= 0 {
			p = DefaultCanaryPercent
		}
		if p >= 100 {
			return []float64{100}
		}
		return []float64{round1(p), 100}
	}
	return []float64{100}
}

// stepBake is the wait after production shift step i (none after 100 %).
func (c Config) stepBake(i int) time.Duration {
	steps := c.Steps()
	if i >= len(steps)-1 {
		return 0
	}
	switch c.Strategy {
	case Linear:
		return c.StepBake
	case Canary:
		return c.CanaryBake
	}
	return 0
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// HookRun is one hook running at the current stage.
type HookRun struct {
	ID     string `json:"id"`
	Index  int    `json:"index"` // of the hook in Config.Hooks
	Status string `json:"status"`
	// ExpiresAt is when the timeout action applies.
	ExpiresAt time.Time `json:"expiresAt"`
	// NextCallAt is when a URL hook is called (again).
	NextCallAt time.Time `json:"nextCallAt,omitzero"`
	Calls      int       `json:"calls,omitzero"`
	// Answer is ContinueServiceDeployment's action for a PAUSE hook,
	// written by the API and read by Step.
	Answer string `json:"answer,omitzero"`
}

// Progress is a deployment's persisted state.
type Progress struct {
	Stage Stage `json:"stage"`
	// Step counts the production traffic shifts done.
	Step int `json:"step,omitzero"`
	// ProdWeight and TestWeight are green's share of production and test
	// traffic, in percent.
	ProdWeight float64 `json:"prodWeight"`
	TestWeight float64 `json:"testWeight"`
	// StageAt is when the stage was entered; WaitFrom when its hooks were
	// done (bake times count from there).
	StageAt  time.Time `json:"stageAt"`
	WaitFrom time.Time `json:"waitFrom,omitzero"`
	// HooksStarted says the stage's hooks were started (Hooks are they).
	HooksStarted bool      `json:"hooksStarted,omitzero"`
	Hooks        []HookRun `json:"hooks,omitzero"`
	// History of hook runs that finished, newest last (for
	// lifecycleHookDetails after the stage).
	Finished []HookRun `json:"finished,omitzero"`
	// StopRequest is StopServiceDeployment's stop type, written by the API.
	StopRequest string `json:"stopRequest,omitzero"`
	// RollbackReason says why a rollback started; Result is set once the
	// deployment is over (SUCCESSFUL, ROLLBACK_SUCCESSFUL, STOPPED).
	RollbackReason string    `json:"rollbackReason,omitzero"`
	RollbackAt     time.Time `json:"rollbackAt,omitzero"`
	Stopping       bool      `json:"stopping,omitzero"` // ABORT: the result is STOPPED
	Result         string    `json:"result,omitzero"`
}

// Start is the Progress of a deployment that has just begun.
func Start(now time.Time) Progress {
	return Progress{Stage: StageReconcile, StageAt: now}
}

// Reply is a URL hook's answer.
type Reply struct {
	Status        string // SUCCEEDED, FAILED, IN_PROGRESS
	CallBackDelay time.Duration
}

// Observed is what the controller saw.
type Observed struct {
	Now time.Time
	// GreenReady: green runs its desired tasks, all healthy.
	GreenReady bool
	// GreenFailed: green's circuit breaker tripped.
	GreenFailed bool
	// BlueLeft and GreenLeft count the tasks of each not yet stopped.
	BlueLeft, GreenLeft int
	// BlueReady: blue runs its desired tasks, all healthy.
	BlueReady bool
	// OthersLeft counts the tasks not yet stopped of revisions that are
	// neither blue nor green: those of a deployment this one superseded
	// (see Supersede). RECONCILE_SERVICE waits until they are gone.
	OthersLeft int
	// Replies are URL hook answers by hook run ID.
	Replies map[string]Reply
}

// Decision is what to do now.
type Decision struct {
	Progress Progress
	// Green says green keeps its desired count (false: scale it to 0, or
	// not yet started).
	Green bool
	// StopBlue says blue's tasks go.
	StopBlue bool
	// Blue says blue keeps its desired count: a blue task that stops is
	// replaced by one of blue's revision, as long as blue may serve
	// production traffic again (every stage before CLEAN_UP, rollback
	// included).
	Blue bool
	// StopOthers says the tasks of superseded revisions go: no traffic
	// goes to them, and blue runs its desired tasks, healthy.
	StopOthers bool
	// Call lists the hook runs whose URL to call now.
	Call []HookRun
	// Recheck is when to decide again without any change (zero: no need).
	Recheck time.Time
	// Events are messages for the service's events, oldest first.
	Events []string
}

// Step advances the deployment as far as it can go now.
func Step(cfg Config, p Progress, o Observed) Decision {
	d := &stepper{cfg: cfg, p: p, o: o}
	d.p.Hooks = slices.Clone(p.Hooks)
	d.p.Finished = slices.Clone(p.Finished)
	d.run()
	d.out.Progress = d.p
	switch d.p.Stage {
	case StageReconcile, StagePreScaleUp, StageRollback:
	case StageDone:
		d.out.Green = d.p.Result == resultSuccessful
	default:
		d.out.Green = true
	}
	d.out.StopBlue = d.p.Stage == StageCleanUp || (d.p.Stage == StageDone && d.p.Result == resultSuccessful)
	d.out.Blue = d.p.Stage != StageCleanUp && d.p.Stage != StageDone
	d.out.StopOthers = o.OthersLeft > 0 && o.BlueReady
	return d.out
}

type stepper struct {
	cfg Config
	p   Progress
	o   Observed
	out Decision
}

func (d *stepper) event(format string, args ...any) {
	d.out.Events = append(d.out.Events, fmt.Sprintf(format, args...))
}

func (d *stepper) wakeAt(t time.Time) {
	if t.IsZero() {
		return
	}
	if d.out.Recheck.IsZero() || t.Before(d.out.Recheck) {
		d.out.Recheck = t
	}
}

// rollback starts a rollback with reason (once; not after CLEAN_UP began).
func (d *stepper) rollback(reason string) {
	if d.p.Stage == StageRollback || d.p.Stage == StageDone || d.p.Stage == StageCleanUp {
		return
	}
	d.finishHooks()
	d.p.Stage, d.p.StageAt, d.p.WaitFrom = StageRollback, d.o.Now, time.Time{}
	d.p.RollbackReason, d.p.RollbackAt = reason, d.o.Now
	d.p.ProdWeight, d.p.TestWeight = 0, 0
	d.event("rolling back: %s", reason)
}

func (d *stepper) finishHooks() {
	d.p.Finished = append(d.p.Finished, d.p.Hooks...)
	d.p.Hooks, d.p.HooksStarted = nil, false
}

// enter moves to stage s and does its action.
func (d *stepper) enter(s Stage) {
	d.finishHooks()
	d.p.Stage, d.p.StageAt, d.p.WaitFrom = s, d.o.Now, time.Time{}
	switch s {
	case StageTestShift:
		if d.cfg.TestTraffic {
			d.p.TestWeight = 100
		}
	case StageProdShift:
		steps := d.cfg.Steps()
		d.p.ProdWeight = steps[min(d.p.Step, len(steps)-1)]
		d.p.Step++
		d.event("shifted %s%% of production traffic to the new revision", trimFloat(d.p.ProdWeight))
	case StageCleanUp:
		d.p.TestWeight = 100
		d.p.ProdWeight = 100
	}
}

// next is the stage after the current one.
func (d *stepper) next() Stage {
	if d.p.Stage == StageProdShift && d.p.Step < len(d.cfg.Steps()) {
		return StagePreProdShift
	}
	i := slices.Index(order, d.p.Stage)
	return order[i+1]
}

func (d *stepper) run() {
	for range 64 { // stages advance at most this often in one step
		if d.p.Stage == StageDone {
			return
		}
		if d.p.StopRequest != "" {
			req := d.p.StopRequest
			d.p.StopRequest = ""
			if d.p.CanRollback() {
				d.p.Stopping = req != ActionRollback
				d.rollback("the deployment was stopped (" + req + ")")
			}
		}
		if d.o.GreenFailed && d.p.Stage != StageRollback && d.p.Stage != StageCleanUp {
			d.rollback("the deployment circuit breaker was triggered")
		}
		if !d.advance() {
			return
		}
	}
}

// advance does what the current stage can do now and says whether the
// stage changed.
func (d *stepper) advance() bool {
	now := d.o.Now
	switch d.p.Stage {
	case StageRollback:
		if d.o.GreenLeft > 0 {
			return false
		}
		d.p.Stage, d.p.StageAt = StageDone, now
		d.p.Result = resultRolledBack
		if d.p.Stopping {
			d.p.Result = resultStopped
		}
		return true
	case StageScaleUp:
		if !d.o.GreenReady {
			return false
		}
	case StageCleanUp:
		if d.o.BlueLeft > 0 {
			return false
		}
		d.p.Stage, d.p.StageAt, d.p.Result = StageDone, now, resultSuccessful
		return true
	}
	if slices.Contains(hookStages, d.p.Stage) {
		done, failed := d.hooks()
		if failed != "" {
			d.rollback(failed)
			return true
		}
		if !done {
			return false
		}
	}
	if d.p.Stage == StageReconcile && d.o.OthersLeft > 0 {
		// The revisions a superseded deployment left go (StopOthers)
		// before green starts: one blue, one green.
		return false
	}
	if d.p.WaitFrom.IsZero() {
		d.p.WaitFrom = now
	}
	if wait := d.wait(); wait > 0 {
		until := d.p.WaitFrom.Add(wait)
		if now.Before(until) {
			d.wakeAt(until)
			return false
		}
	}
	d.enter(d.next())
	return true
}

// wait is how long the current stage waits once its hooks are done.
func (d *stepper) wait() time.Duration {
	switch d.p.Stage {
	case StageProdShift:
		return d.cfg.stepBake(d.p.Step - 1)
	case StageBake:
		return d.cfg.Bake
	}
	return 0
}

// hooks starts, follows and times out the current stage's hooks. It
// says whether they are all done, or why the deployment rolls back.
func (d *stepper) hooks() (done bool, rollback string) {
	now := d.o.Now
	if !d.p.HooksStarted {
		d.p.HooksStarted = true
		for i, h := range d.cfg.Hooks {
			if !slices.Contains(h.Stages, d.p.Stage) || (h.Pause && !pausable(d.p.Stage)) {
				continue
			}
			timeout := h.Timeout
			if timeout <= 0 {
				timeout = DefaultHookTimeout
			}
			r := HookRun{ID: HookID(i, d.p.Stage, d.p.Step), Index: i, ExpiresAt: now.Add(timeout)}
			if h.Pause {
				r.Status = HookAwaiting
				d.event("paused at %s: waiting for ContinueServiceDeployment (hook %s)", d.p.Stage, r.ID)
			} else {
				r.Status, r.NextCallAt = HookInProgress, now
			}
			d.p.Hooks = append(d.p.Hooks, r)
		}
	}
	done = true
	for i := range d.p.Hooks {
		r := &d.p.Hooks[i]
		h := d.cfg.Hooks[r.Index]
		if r.Status == HookInProgress || r.Status == HookAwaiting {
			if reply, ok := d.o.Replies[r.ID]; ok && !h.Pause {
				switch reply.Status {
				case HookSucceeded:
					r.Status = HookSucceeded
				case HookFailed:
					r.Status = HookFailed
				default:
					delay := reply.CallBackDelay
					if delay <= 0 {
						delay = DefaultCallBackDelay
					}
					r.NextCallAt = now.Add(delay)
				}
			}
			switch r.Answer {
			case ActionContinue:
				r.Status = HookSucceeded
			case ActionRollback:
				r.Status = HookFailed
			}
		}
		if (r.Status == HookInProgress || r.Status == HookAwaiting) && !now.Before(r.ExpiresAt) {
			r.Status = HookTimedOut
			if h.TimeoutAction != ActionContinue {
				return false, fmt.Sprintf("lifecycle hook %s timed out", r.ID)
			}
		}
		switch r.Status {
		case HookFailed:
			if r.Answer == ActionRollback {
				return false, fmt.Sprintf("lifecycle hook %s asked for a rollback", r.ID)
			}
			return false, fmt.Sprintf("lifecycle hook %s failed", r.ID)
		case HookInProgress:
			done = false
			if !now.Before(r.NextCallAt) {
				r.Calls++
				r.NextCallAt = now.Add(CallTimeout)
				d.out.Call = append(d.out.Call, *r)
			}
			d.wakeAt(r.NextCallAt)
			d.wakeAt(r.ExpiresAt)
		case HookAwaiting:
			done = false
			d.wakeAt(r.ExpiresAt)
		}
	}
	return done, ""
}

// pausable says whether a PAUSE hook can stop the deployment at s: not
// at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT (ECS's rule).
func pausable(s Stage) bool { return s != StageTestShift && s != StageProdShift }

// HookID names the run of hook i at a stage (and production step).
func HookID(i int, s Stage, step int) string {
	return fmt.Sprintf("hook-%d-%s-%d", i, strings.ToLower(strings.ReplaceAll(string(s), "_", "-")), step)
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0")
}

// Active says the deployment still runs (not DONE).
func (p Progress) Active() bool { return p.Stage != StageDone }

// CanRollback says a stop or rollback request still applies: the
// deployment is not cleaning up, rolling back or done.
func (p Progress) CanRollback() bool {
	return p.Stage != StageCleanUp && p.Stage != StageRollback && p.Stage != StageDone
}

// Supersede says which revision serves production when a new deployment
// replaces deployment p before it is done: green once all production
// traffic is on it (BAKE_TIME, CLEAN_UP), otherwise blue, to which any
// production traffic on green goes back. The new deployment starts from
// that revision; the other one's tasks go in its RECONCILE_SERVICE stage.
func Supersede(p Progress) (greenServes bool) {
	return p.Stage != StageRollback && p.ProdWeight >= 100
}

// ForwardWeights turns green's share of traffic into the two weights of
// a forward action (0–999 each, as ELB allows): blue's and green's.
func ForwardWeights(greenPercent float64) (blue, green int32) {
	g := int32(math.Round(greenPercent * 10))
	switch {
	case g <= 0:
		return 1, 0
	case g >= 1000:
		return 0, 1
	}
	return 1000 - g, g
}

// Stages is the stage sequence of a progressive deployment, in order
// (the production shift stages repeat per traffic step), for display.
func Stages() []Stage { return slices.Clone(order) }
