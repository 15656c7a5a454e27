// Filled in by the sampler issue; the package builds so the workspace layout is complete now.
export const PACKAGE = '@dalle2/sampler';
