// Filled in by the dalle2 issue; the package builds so the workspace layout is complete now.
export const PACKAGE = '@dalle2/dalle2';
