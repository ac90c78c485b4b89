import type { Reporter } from 'vitest/reporters';
import { missingTools, tools } from './tools.js';

/**
 * Adds the last line of a run's summary when tools some checks need are missing here, so a
 * green "N passed" never hides what did not run. CI installs them all (.ci/run).
 */
// biome-ignore lint/style/noDefaultExport: vitest loads a reporter file by its default export
export default class ToolReporter implements Reporter {
  onTestRunEnd(): void {
    const missing = missingTools();
    if (missing.length === 0) return;
    const what = missing.map((tool) => `${tools[tool].checks} (${tool})`).join('; ');
    const install = missing.map((tool) => tools[tool].debian).join(' ');
    console.log(
      `\n\x1b[33m  NOT RUN here, tools missing: ${what}. Those tests are skipped; CI runs them. Install: apt-get install ${install}\x1b[0m\n`,
    );
  }
}
