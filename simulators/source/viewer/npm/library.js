// The one module the viewer page imports: Cornerstone3D's core (viewports, rendering, cache) and its DICOM
// image loader (WADO-RS frames, JPEG-LS / JPEG 2000 / JPEG decoders in web workers), bundled by esbuild
// at set-up (drimcheck viewer install). Nothing of the library is kept in the repository.
export * as core from '@cornerstonejs/core';
export { default as dicomImageLoader } from '@cornerstonejs/dicom-image-loader';
