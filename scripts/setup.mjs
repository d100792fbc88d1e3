// npm install's postinstall: system packages first, then the whole build.
import { installSystemPackages } from './system-deps.mjs';
import { buildNative, buildTypeScript } from './build.mjs';

installSystemPackages();
buildNative();
buildTypeScript();
