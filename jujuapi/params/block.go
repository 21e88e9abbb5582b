package params

// Block types: which set of commands a block disables. The CLI's
// `disable-command` names them destroy-model, remove-object and all.
const (
	BlockDestroy = "BlockDestroy"
	BlockRemove  = "BlockRemove"
	BlockChange  = "BlockChange"
)

// Block is a switched-on block of a model.
type Block struct {
	// Id is the block's id.
	Id string `json:"id"`
	// Tag is the tag of the blocked entity (the model).
	Tag string `json:"tag"`
	// Type is BlockDestroy, BlockRemove or BlockChange.
	Type string `json:"type"`
	// Message is what the user gave when switching the block on.
	Message string `json:"message,omitempty"`
}

// BlockSwitchParams is the argument of Block.SwitchBlockOn and
// Block.SwitchBlockOff.
type BlockSwitchParams struct {
	// Type is BlockDestroy, BlockRemove or BlockChange.
	Type string `json:"type"`
	// Message explains the block (SwitchBlockOn).
	Message string `json:"message,omitempty"`
}

// BlockResult holds a Block or an error.
type BlockResult struct {
	// Result is the block.
	Result Block `json:"result"`
	// Error is set on failure.
	Error *Error `json:"error,omitempty"`
}

// BlockResults is the result of Block.List.
type BlockResults struct {
	// Results holds one entry per block switched on.
	Results []BlockResult `json:"results,omitempty"`
}
