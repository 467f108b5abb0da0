import { readFileSync } from 'node:fs';
import { assetPath } from '../lib/assets.js';

export const version = (JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string }).version;
