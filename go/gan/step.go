package gan

// StepResult is what one adversarial training step reports.
type StepResult struct {
	Step  int64   // global step after the update; it travels with the saved variables
	DLoss float32 // discriminator loss of this step (not averaged)
	GLoss float32 // generator loss of this step (not averaged)
}
