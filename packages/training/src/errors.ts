/**
 * Settings or data a training cannot use (conflicting options, a labels file without a key
 * column, a split with no positive validation image, a base that is not a tfjs-layers DenseNet):
 * one line naming the option or file and the reason. The command line exits with its usage code
 * (2) on one; anything else is a failure (1).
 */
export class TrainingInputError extends Error {
  override readonly name: string = 'TrainingInputError';
}
