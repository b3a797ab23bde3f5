package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ganhost/ganhost/go/dataset"
	"github.com/ganhost/ganhost/go/gan"
	"github.com/ganhost/ganhost/go/tfmodel"
)

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", stderr)
	base := fs.String("model-base", "savedmodel/gan", "model base path; training starts from its highest complete version")
	data := fs.String("data", "data/mnist", "dataset: a directory of IDX files (train-images-idx3-ubyte[.gz], ...) or a Keras mnist.npz")
	steps := fs.Int("steps", 100, "training steps, 1..1000000")
	batch := fs.Int("batch", 64, "batch size, 1..1024")
	seed := fs.Int64("seed", 0, "seed for batch order and noise; 0 picks one at random (it is printed)")
	logEvery := fs.Int("log-every", 0, "also print a line of losses every N steps (0: only the progress bar and the summary)")
	progress := fs.Bool("progress", true, "show a progress bar with ETA and running losses on stderr")
	save := fs.Bool("save", false, "save the trained state as the next version under -model-base")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *steps < 1 || *steps > 1_000_000 {
		return usageError{fmt.Sprintf("-steps must be in 1..1000000, got %d", *steps)}
	}
	if *batch < 1 || *batch > 1024 {
		return usageError{fmt.Sprintf("-batch must be in 1..1024, got %d", *batch)}
	}
	if *seed == 0 {
		*seed = rand.Int64N(1<<53) + 1
	}

	ds, err := dataset.Load(*data)
	if err != nil {
		return err
	}
	model, version, err := tfmodel.OpenLatest(*base)
	if err != nil {
		return err
	}
	defer model.Close()
	fmt.Fprintf(stdout, "training %s version %d on %s (%d images): %d steps, batch %d, seed %d\n",
		*base, version, *data, ds.Len(), *steps, *batch, *seed)

	bar := progressbar.NewOptions(*steps,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetVisibility(*progress),
		progressbar.OptionSetDescription("training"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("steps"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
	)
	sampler := dataset.NewSampler(ds, uint64(*seed))
	noise := gan.NewNoiseSource(*seed)
	var images, z []float32
	var labels []int32
	var last gan.StepResult
	var dSum, gSum float64
	start := time.Now()
	for i := 1; i <= *steps; i++ {
		images, labels = sampler.BatchLabels(images, labels, *batch)
		z = noise.Next(z, *batch)
		modelLabels := labels
		if !model.Conditional() {
			modelLabels = nil
		}
		if last, err = model.TrainStep(images, z, modelLabels, *batch); err != nil {
			return err
		}
		dSum += float64(last.DLoss)
		gSum += float64(last.GLoss)
		bar.Describe(fmt.Sprintf("step %d  d_loss %.3f  g_loss %.3f", last.Step, dSum/float64(i), gSum/float64(i)))
		_ = bar.Add(1)
		if *logEvery > 0 && i%*logEvery == 0 {
			fmt.Fprintf(stdout, "step %7d  d_loss %.4f  g_loss %.4f\n", last.Step, last.DLoss, last.GLoss)
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "trained %d steps in %s (%.1f steps/s): global step %d, mean d_loss %.4f, mean g_loss %.4f\n",
		*steps, elapsed.Round(time.Millisecond), float64(*steps)/elapsed.Seconds(), last.Step,
		dSum/float64(*steps), gSum/float64(*steps))

	if !*save {
		fmt.Fprintln(stdout, "not saved (pass -save to write a new version)")
		return nil
	}
	v, err := model.SaveVersion(*base)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "saved version %d: %s\n", v, tfmodel.VersionDir(*base, v))
	return nil
}
