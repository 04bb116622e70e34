export const name: string = 'noble';
