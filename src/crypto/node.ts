export const name: string = 'node';
