// Filled in by the models issue; the package builds so the workspace layout is complete now.
export const PACKAGE = '@dalle2/models';
