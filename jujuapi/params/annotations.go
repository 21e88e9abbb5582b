package params

// AnnotationsGetResult is one entity's annotations, or an error.
type AnnotationsGetResult struct {
	// EntityTag is the entity's tag.
	EntityTag string `json:"entity"`
	// Annotations holds the entity's annotations.
	Annotations map[string]string `json:"annotations"`
	// Error is the lookup's error; Juju sends the object even when empty.
	Error ErrorResult `json:"error,omitempty"`
}

// AnnotationsGetResults is the result of Annotations.Get.
type AnnotationsGetResults struct {
	// Results holds one entry per requested entity.
	Results []AnnotationsGetResult `json:"results"`
}

// EntityAnnotations is one entity's annotations to set.
type EntityAnnotations struct {
	// EntityTag is the entity's tag.
	EntityTag string `json:"entity"`
	// Annotations holds the annotations; an empty value removes one.
	Annotations map[string]string `json:"annotations"`
}

// AnnotationsSet is the argument of Annotations.Set.
type AnnotationsSet struct {
	// Annotations lists the entities and their annotations.
	Annotations []EntityAnnotations `json:"annotations"`
}
