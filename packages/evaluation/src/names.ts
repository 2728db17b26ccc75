/**
 * The fixed choices of a study, in a module that imports nothing: the command line lists them in
 * its help without loading the statistics or the readers.
 */

/** AUROC confidence interval methods (EvaluationSettings.ci_method). */
export const CI_METHODS = ['delong', 'bootstrap'] as const;
export type CiMethod = (typeof CI_METHODS)[number];

/** Stored technical tags a report can be grouped by (export column names). */
export const PREDICTION_TAGS = ['institution', 'manufacturer', 'modality', 'view_position'] as const;
export type PredictionTag = (typeof PREDICTION_TAGS)[number];
